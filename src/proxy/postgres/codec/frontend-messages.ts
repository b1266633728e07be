import type { BodyReader } from "./body.ts";
import { F, StartupCode } from "./codes.ts";
import { FEATURE_NOT_SUPPORTED, PgProtocolError, protocolViolation } from "./errors.ts";

/** One decoded client → server message; `raw` is the exact frame (header included). */
export type FrontendMessage =
  | { type: "startup"; protocolVersion: number; parameters: Record<string, string>; raw: Buffer }
  | { type: "sslRequest"; raw: Buffer }
  | { type: "gssEncRequest"; raw: Buffer }
  | { type: "cancelRequest"; processId: number; secretKey: number; raw: Buffer }
  /** 'p': PasswordMessage / SASLInitialResponse / SASLResponse (meaning depends on auth state). */
  | { type: "password"; data: Buffer; raw: Buffer }
  | { type: "query"; text: string; raw: Buffer }
  | { type: "parse"; name: string; text: string; paramTypes: number[]; raw: Buffer }
  | {
      type: "bind";
      portal: string;
      statement: string;
      paramFormats: number[];
      params: (Buffer | null)[];
      resultFormats: number[];
      raw: Buffer;
    }
  | { type: "describe"; kind: "S" | "P"; name: string; raw: Buffer }
  | { type: "execute"; portal: string; maxRows: number; raw: Buffer }
  | { type: "close"; kind: "S" | "P"; name: string; raw: Buffer }
  | { type: "sync"; raw: Buffer }
  | { type: "flush"; raw: Buffer }
  | { type: "terminate"; raw: Buffer }
  | { type: "copyData"; data: Buffer; raw: Buffer }
  | { type: "copyDone"; raw: Buffer }
  | { type: "copyFail"; message: string; raw: Buffer }
  | { type: "functionCall"; raw: Buffer };

/** Decodes an untyped startup-phase frame (length ≥ 8, checked by the splitter). */
export function decodeStartupFrame(raw: Buffer, r: BodyReader): FrontendMessage {
  const code = raw.readInt32BE(4);
  switch (code) {
    case StartupCode.SslRequest:
      if (raw.length !== 8) throw protocolViolation(`malformed SSLRequest: length ${raw.length}, expected 8`);
      return { type: "sslRequest", raw };
    case StartupCode.GssEncRequest:
      if (raw.length !== 8)
        throw protocolViolation(`malformed GSSENCRequest: length ${raw.length}, expected 8`);
      return { type: "gssEncRequest", raw };
    case StartupCode.CancelRequest:
      if (raw.length !== 16) {
        throw protocolViolation(`malformed CancelRequest: length ${raw.length}, expected 16`);
      }
      return { type: "cancelRequest", processId: raw.readInt32BE(8), secretKey: raw.readInt32BE(12), raw };
    case StartupCode.Protocol30:
      break;
    default:
      throw new PgProtocolError(
        FEATURE_NOT_SUPPORTED,
        `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: Sluice supports protocol 3.0`,
      );
  }
  r.reset(raw, 8, "StartupMessage");
  // Null prototype: parameter names are client-chosen ("__proto__" must stay a plain key).
  const parameters: Record<string, string> = Object.create(null);
  for (;;) {
    const name = r.cstring();
    if (name === "") break;
    parameters[name] = r.cstring();
  }
  r.end();
  return { type: "startup", protocolVersion: code, parameters, raw };
}

/** Decodes a typed frame; the splitter has already checked the type byte and length. */
export function decodeTypedFrame(raw: Buffer, r: BodyReader): FrontendMessage {
  switch (raw[0]) {
    case F.Query: {
      r.reset(raw, 5, "Query");
      const text = r.cstring();
      r.end();
      return { type: "query", text, raw };
    }
    case F.Parse:
      return decodeParse(raw, r);
    case F.Bind:
      return decodeBind(raw, r);
    case F.Execute: {
      r.reset(raw, 5, "Execute");
      const portal = r.cstring();
      const maxRows = r.int32();
      r.end();
      return { type: "execute", portal, maxRows, raw };
    }
    case F.Describe: {
      r.reset(raw, 5, "Describe");
      const kind = portalOrStatement(r);
      const name = r.cstring();
      r.end();
      return { type: "describe", kind, name, raw };
    }
    case F.Close: {
      r.reset(raw, 5, "Close");
      const kind = portalOrStatement(r);
      const name = r.cstring();
      r.end();
      return { type: "close", kind, name, raw };
    }
    case F.Sync:
      return { type: "sync", raw: empty(raw, r, "Sync") };
    case F.Flush:
      return { type: "flush", raw: empty(raw, r, "Flush") };
    case F.Terminate:
      return { type: "terminate", raw: empty(raw, r, "Terminate") };
    case F.CopyDone:
      return { type: "copyDone", raw: empty(raw, r, "CopyDone") };
    case F.CopyData:
      return { type: "copyData", data: raw.subarray(5), raw };
    case F.CopyFail: {
      r.reset(raw, 5, "CopyFail");
      const message = r.cstring();
      r.end();
      return { type: "copyFail", message, raw };
    }
    case F.Password:
      return { type: "password", data: raw.subarray(5), raw };
    case F.FunctionCall:
      return { type: "functionCall", raw };
    default:
      // Unreachable while the splitter's code table and this switch agree.
      throw protocolViolation(`invalid frontend message type ${raw[0]}`);
  }
}

function decodeParse(raw: Buffer, r: BodyReader): FrontendMessage {
  r.reset(raw, 5, "Parse");
  const name = r.cstring();
  const text = r.cstring();
  // Counts are read unsigned, as the server does (up to 65535 parameters).
  const count = r.uint16();
  if (count * 4 > r.remaining) throw r.fail(`${count} parameter types do not fit in the message`);
  const paramTypes = new Array<number>(count);
  for (let i = 0; i < count; i++) paramTypes[i] = r.uint32();
  r.end();
  return { type: "parse", name, text, paramTypes, raw };
}

function decodeBind(raw: Buffer, r: BodyReader): FrontendMessage {
  r.reset(raw, 5, "Bind");
  const portal = r.cstring();
  const statement = r.cstring();
  const paramFormats = formatCodes(r, "parameter");
  const count = r.uint16();
  if (paramFormats.length > 1 && paramFormats.length !== count) {
    throw r.fail(`${paramFormats.length} parameter formats but ${count} parameters`);
  }
  if (count * 4 > r.remaining) throw r.fail(`${count} parameters do not fit in the message`);
  const params = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) {
    const length = r.int32();
    if (length === -1) params[i] = null;
    else if (length < 0) throw r.fail(`parameter ${i + 1} has invalid length ${length}`);
    else params[i] = r.bytes(length);
  }
  const resultFormats = formatCodes(r, "result");
  r.end();
  return { type: "bind", portal, statement, paramFormats, params, resultFormats, raw };
}

/** A count then that many format codes; only text (0) and binary (1) exist. */
function formatCodes(r: BodyReader, what: string): number[] {
  const count = r.uint16();
  if (count * 2 > r.remaining) throw r.fail(`${count} ${what} format codes do not fit in the message`);
  const codes = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const code = r.int16();
    if (code !== 0 && code !== 1) throw r.fail(`unsupported ${what} format code ${code}`);
    codes[i] = code;
  }
  return codes;
}

function portalOrStatement(r: BodyReader): "S" | "P" {
  const kind = r.byte();
  if (kind === 0x53) return "S";
  if (kind === 0x50) return "P";
  throw r.fail(`invalid subtype ${kind}, expected 'S' or 'P'`);
}

function empty(raw: Buffer, r: BodyReader, message: string): Buffer {
  if (raw.length !== 5) r.reset(raw, 5, message).end();
  return raw;
}
