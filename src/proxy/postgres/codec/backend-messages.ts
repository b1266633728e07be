import { BodyReader } from "./body.ts";
import { B, describeCode } from "./codes.ts";
import { protocolViolation } from "./errors.ts";

/** One column of a RowDescription. `tableOid`/`columnAttr` are 0 when the column is not a plain table column. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

export type AuthenticationRequest =
  | { kind: "ok" }
  | { kind: "cleartext" }
  | { kind: "md5"; salt: Buffer }
  | { kind: "sasl"; mechanisms: string[] }
  | { kind: "saslContinue"; data: Buffer }
  | { kind: "saslFinal"; data: Buffer }
  | { kind: "unsupported"; code: number };

// Server text is only displayed or recorded, so invalid UTF-8 decodes leniently here.
const r = new BodyReader(false);

/** Checks the type byte and length field, then positions the shared reader on the body. */
function open(raw: Buffer, code: number, name: string): BodyReader {
  if (raw.length < 5 || raw[0] !== code || raw.readInt32BE(1) !== raw.length - 1) {
    const got = raw.length > 0 ? describeCode(raw[0] as number) : "an empty buffer";
    throw protocolViolation(
      `malformed ${name} message: expected type ${describeCode(code)} frame, got ${got}`,
    );
  }
  return r.reset(raw, 5, name);
}

export function decodeRowDescription(raw: Buffer): FieldDescription[] {
  open(raw, B.RowDescription, "RowDescription");
  const count = r.uint16();
  if (count * 19 > r.remaining) throw r.fail(`${count} fields do not fit in the message`);
  const fields = new Array<FieldDescription>(count);
  for (let i = 0; i < count; i++) {
    fields[i] = {
      name: r.cstring(),
      tableOid: r.uint32(),
      columnAttr: r.int16(), // signed: system columns have negative attribute numbers
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    };
  }
  r.end();
  return fields;
}

/** ErrorResponse / NoticeResponse fields: one-letter codes (S, V, C, M, D, H, P, ...) → values. */
export function decodeFields(raw: Buffer): Record<string, string> {
  const code = raw[0] === B.NoticeResponse ? B.NoticeResponse : B.ErrorResponse;
  open(raw, code, code === B.NoticeResponse ? "NoticeResponse" : "ErrorResponse");
  const fields: Record<string, string> = {};
  for (;;) {
    const field = r.byte();
    if (field === 0) break;
    fields[String.fromCharCode(field)] = r.cstring();
  }
  r.end();
  return fields;
}

export function decodeCommandComplete(raw: Buffer): string {
  open(raw, B.CommandComplete, "CommandComplete");
  const tag = r.cstring();
  r.end();
  return tag;
}

export function decodeReadyForQuery(raw: Buffer): "I" | "T" | "E" {
  open(raw, B.ReadyForQuery, "ReadyForQuery");
  const status = r.byte();
  r.end();
  if (status === 0x49) return "I";
  if (status === 0x54) return "T";
  if (status === 0x45) return "E";
  throw r.fail(`invalid transaction status ${describeCode(status)}`);
}

export function decodeParameterStatus(raw: Buffer): { name: string; value: string } {
  open(raw, B.ParameterStatus, "ParameterStatus");
  const name = r.cstring();
  const value = r.cstring();
  r.end();
  return { name, value };
}

export function decodeBackendKeyData(raw: Buffer): { processId: number; secretKey: number } {
  open(raw, B.BackendKeyData, "BackendKeyData");
  const processId = r.int32();
  const secretKey = r.int32();
  r.end();
  return { processId, secretKey };
}

export function decodeAuthentication(raw: Buffer): AuthenticationRequest {
  open(raw, B.Authentication, "Authentication");
  const code = r.int32();
  switch (code) {
    case 0:
      r.end();
      return { kind: "ok" };
    case 3:
      r.end();
      return { kind: "cleartext" };
    case 5: {
      const salt = r.bytes(4);
      r.end();
      return { kind: "md5", salt };
    }
    case 10: {
      const mechanisms: string[] = [];
      for (let name = r.cstring(); name !== ""; name = r.cstring()) mechanisms.push(name);
      r.end();
      return { kind: "sasl", mechanisms };
    }
    case 11:
      return { kind: "saslContinue", data: r.rest() };
    case 12:
      return { kind: "saslFinal", data: r.rest() };
    default:
      return { kind: "unsupported", code };
  }
}

/** CopyInResponse (G), CopyOutResponse (H) or CopyBothResponse (W). */
export function decodeCopyResponse(raw: Buffer): { format: number; columnFormats: number[] } {
  const code = raw[0];
  const expected = code === B.CopyOutResponse || code === B.CopyBothResponse ? code : B.CopyInResponse;
  open(raw, expected, "CopyResponse");
  const format = r.byte();
  const count = r.uint16();
  if (count * 2 > r.remaining) throw r.fail(`${count} column formats do not fit in the message`);
  const columnFormats = new Array<number>(count);
  for (let i = 0; i < count; i++) columnFormats[i] = r.int16();
  r.end();
  return { format, columnFormats };
}

export function decodeNotification(raw: Buffer): { processId: number; channel: string; payload: string } {
  open(raw, B.NotificationResponse, "NotificationResponse");
  const processId = r.int32();
  const channel = r.cstring();
  const payload = r.cstring();
  r.end();
  return { processId, channel, payload };
}
