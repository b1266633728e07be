import type { FieldDescription } from "./backend-messages.ts";
import { B } from "./codes.ts";
import type { PgProtocolError } from "./errors.ts";
import { emptyFrame, MessageWriter } from "./writer.ts";

/** The server messages Sluice itself sends to a client. Every call returns a fresh Buffer. */

export interface ResponseFields {
  /** ERROR by default for errors, NOTICE for notices (FATAL, PANIC, WARNING, INFO, DEBUG, LOG). */
  severity?: string;
  /** SQLSTATE. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** Cursor position in the query text, 1-based, as a decimal string. */
  position?: string;
}

const w = new MessageWriter();

function fieldsMessage(code: number, fields: ResponseFields, defaultSeverity: string): Buffer {
  const severity = fields.severity ?? defaultSeverity;
  // S is the localized severity, V the untranslated one (protocol 3.0, PostgreSQL 9.6+); both are English here.
  w.int8(0x53).cstring(severity).int8(0x56).cstring(severity);
  w.int8(0x43).cstring(fields.code).int8(0x4d).cstring(fields.message);
  if (fields.detail !== undefined) w.int8(0x44).cstring(fields.detail);
  if (fields.hint !== undefined) w.int8(0x48).cstring(fields.hint);
  if (fields.position !== undefined) w.int8(0x50).cstring(fields.position);
  return w.int8(0).frame(code);
}

export function errorResponse(fields: ResponseFields): Buffer {
  return fieldsMessage(B.ErrorResponse, fields, "ERROR");
}

export function noticeResponse(fields: ResponseFields): Buffer {
  return fieldsMessage(B.NoticeResponse, fields, "NOTICE");
}

/** The FATAL ErrorResponse sent before closing a connection whose input was malformed. */
export function protocolErrorResponse(error: PgProtocolError): Buffer {
  return errorResponse({ severity: "FATAL", code: error.sqlstate, message: error.message });
}

export function readyForQuery(status: "I" | "T" | "E"): Buffer {
  return w.int8(status.charCodeAt(0)).frame(B.ReadyForQuery);
}

export function authenticationOk(): Buffer {
  return w.int32(0).frame(B.Authentication);
}

export function authenticationCleartextPassword(): Buffer {
  return w.int32(3).frame(B.Authentication);
}

export function authenticationMd5Password(salt: Buffer): Buffer {
  return w.int32(5).bytes(salt).frame(B.Authentication);
}

export function authenticationSasl(mechanisms: string[]): Buffer {
  w.int32(10);
  for (const mechanism of mechanisms) w.cstring(mechanism);
  return w.int8(0).frame(B.Authentication);
}

export function authenticationSaslContinue(data: Buffer | string): Buffer {
  return w.int32(11).bytes(data).frame(B.Authentication);
}

export function authenticationSaslFinal(data: Buffer | string): Buffer {
  return w.int32(12).bytes(data).frame(B.Authentication);
}

export function parameterStatus(name: string, value: string): Buffer {
  return w.cstring(name).cstring(value).frame(B.ParameterStatus);
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  return w.int32(processId).int32(secretKey).frame(B.BackendKeyData);
}

export function commandComplete(tag: string): Buffer {
  return w.cstring(tag).frame(B.CommandComplete);
}

export function emptyQueryResponse(): Buffer {
  return emptyFrame(B.EmptyQueryResponse);
}

export function parseComplete(): Buffer {
  return emptyFrame(B.ParseComplete);
}

export function bindComplete(): Buffer {
  return emptyFrame(B.BindComplete);
}

export function closeComplete(): Buffer {
  return emptyFrame(B.CloseComplete);
}

export function noData(): Buffer {
  return emptyFrame(B.NoData);
}

export function portalSuspended(): Buffer {
  return emptyFrame(B.PortalSuspended);
}

export function rowDescription(fields: FieldDescription[]): Buffer {
  w.int16(fields.length);
  for (const f of fields) {
    w.cstring(f.name).int32(f.tableOid).int16(f.columnAttr).int32(f.typeOid);
    w.int16(f.typeSize).int32(f.typeModifier).int16(f.format);
  }
  return w.frame(B.RowDescription);
}

export function copyData(data: Buffer | string): Buffer {
  return w.bytes(data).frame(B.CopyData);
}

export function copyDone(): Buffer {
  return emptyFrame(B.CopyDone);
}

/** The one-byte answer to SSLRequest / GSSENCRequest: 'S' (go ahead) or 'N' (refused). */
export function sslResponse(accept: boolean): Buffer {
  return Buffer.from([accept ? 0x53 : 0x4e]);
}
