import { serialize } from "pg-protocol";
import { F, StartupCode } from "./codes.ts";
import { MessageWriter } from "./writer.ts";

/**
 * Messages Sluice sends UPSTREAM as a client. pg-protocol's `serialize` writes them where its
 * output is exactly the message asked for; the own writer covers the rest (byte payloads,
 * per-column formats, requests pg-protocol lacks). Shared constant buffers may be returned for
 * header-only messages: do not mutate results.
 */

const w = new MessageWriter();

/**
 * StartupMessage (protocol 3.0). pg-protocol always adds `client_encoding=UTF8`, which Sluice
 * relies on (the codec decodes all text as UTF-8), so a client-supplied client_encoding is dropped.
 */
export function startupMessage(parameters: Record<string, string>): Buffer {
  const rest: Record<string, string> = {};
  for (const name of Object.keys(parameters)) {
    if (name.toLowerCase() !== "client_encoding") rest[name] = parameters[name] as string;
  }
  return serialize.startup(rest);
}

export function sslRequest(): Buffer {
  return serialize.requestSsl();
}

export function gssEncRequest(): Buffer {
  return w.int32(StartupCode.GssEncRequest).untyped();
}

export function cancelRequest(processId: number, secretKey: number): Buffer {
  return serialize.cancel(processId, secretKey);
}

export function passwordMessage(password: string): Buffer {
  return serialize.password(password);
}

/** SASLInitialResponse; `response` null writes length -1 (no initial response). */
export function saslInitialResponse(mechanism: string, response: Buffer | string | null): Buffer {
  w.cstring(mechanism);
  if (response === null) w.int32(-1);
  else {
    const data = typeof response === "string" ? Buffer.from(response, "utf8") : response;
    w.int32(data.length).bytes(data);
  }
  return w.frame(F.Password);
}

export function saslResponse(data: Buffer | string): Buffer {
  return w.bytes(data).frame(F.Password);
}

export function query(text: string): Buffer {
  return serialize.query(text);
}

/** Parse. Own writer: pg-protocol prints a console warning for statement names over 63 characters. */
export function parse(name: string, text: string, paramTypes: readonly number[] = []): Buffer {
  w.cstring(name).cstring(text).int16(paramTypes.length);
  for (const oid of paramTypes) w.int32(oid);
  return w.frame(F.Parse);
}

export interface BindFields {
  portal: string;
  statement: string;
  paramFormats: readonly number[];
  params: readonly (Buffer | string | null)[];
  resultFormats: readonly number[];
}

/**
 * Bind from the fields of a decoded bind message (or built by hand). Own writer: pg-protocol
 * derives formats from value types and applies one result format to every column.
 */
export function bind(fields: BindFields): Buffer {
  w.cstring(fields.portal).cstring(fields.statement).int16(fields.paramFormats.length);
  for (const format of fields.paramFormats) w.int16(format);
  w.int16(fields.params.length);
  for (const value of fields.params) {
    if (value === null) w.int32(-1);
    else {
      const data = typeof value === "string" ? Buffer.from(value, "utf8") : value;
      w.int32(data.length).bytes(data);
    }
  }
  w.int16(fields.resultFormats.length);
  for (const format of fields.resultFormats) w.int16(format);
  return w.frame(F.Bind);
}

export function describe(kind: "S" | "P", name = ""): Buffer {
  return serialize.describe({ type: kind, name });
}

/** Execute; maxRows ≤ 0 means all rows (the server treats negatives as 0 too). */
export function execute(portal = "", maxRows = 0): Buffer {
  return serialize.execute({ portal, rows: Math.max(maxRows, 0) });
}

export function close(kind: "S" | "P", name = ""): Buffer {
  return serialize.close({ type: kind, name });
}

export function sync(): Buffer {
  return serialize.sync();
}

export function flush(): Buffer {
  return serialize.flush();
}

export function terminate(): Buffer {
  return serialize.end();
}

export function copyData(data: Buffer): Buffer {
  return serialize.copyData(data);
}

export function copyDone(): Buffer {
  return serialize.copyDone();
}

export function copyFail(message: string): Buffer {
  return serialize.copyFail(message);
}
