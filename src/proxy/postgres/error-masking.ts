import { type ContentRule, maskText } from "../../gate/masking/index.ts";
import { decodeFields } from "./codec/backend.ts";
import { B } from "./codec/codes.ts";
import { MessageWriter } from "./codec/writer.ts";

const REDACTED = "«redacted»";
/** Message fields that may quote data: message, detail, hint, context (where). */
const TEXT_FIELDS = new Set(["M", "D", "H", "W"]);
/** Context (W) whose innermost line says PL/pgSQL raised the message itself: its text is whatever the code chose. */
const RAISED = /^PL\/pgSQL function [^\n]* at (?:RAISE|ASSERT)(?:\n|$)/;
/** Fields RAISE … USING can set to any text: message, detail, hint, column, constraint, datatype, table, schema. */
const RAISE_FIELDS = new Set(["M", "D", "H", "c", "n", "d", "t", "s"]);
const w = new MessageWriter();

/**
 * Errors and notices can quote row data past every column plan: `invalid input syntax for type
 * integer: "987-65-4321"`, `Key (email)=(alice@example.com) already exists`. While a masking
 * profile with column rules applies, a quoted or keyed value that the statement text itself
 * does not contain (so came from the database, not from the agent) is redacted; content
 * detectors then run over every text field. A message PL/pgSQL code raised itself (RAISE,
 * ASSERT: `RAISE NOTICE '%', ssn` in a DO block or function) can be any data, quoted or not:
 * with `redactRaised`, every field RAISE can set is redacted whole unless the statement text
 * holds it.
 */
export function maskServerMessage(
  raw: Buffer,
  statement: string,
  options: { redactQuoted: boolean; redactRaised?: boolean; rules: readonly ContentRule[] },
): Buffer {
  const fields = decodeFields(raw);
  const lowered = statement.toLowerCase();
  const ownText = (value: string) => value.length > 0 && lowered.includes(value.toLowerCase());
  const raised = options.redactRaised === true && RAISED.test(fields.W ?? "");
  let changed = false;
  for (const key of Object.keys(fields)) {
    const settable = raised && RAISE_FIELDS.has(key);
    if (!settable && !TEXT_FIELDS.has(key)) continue;
    let text = fields[key] as string;
    if (settable) {
      if (!ownText(text)) text = REDACTED;
    } else if (options.redactQuoted) {
      text = text
        .replace(/"([^"]*)"/g, (all, value: string) => (ownText(value) ? all : `"${REDACTED}"`))
        .replace(/=\(([^)]*)\)/g, (all, value: string) => (ownText(value) ? all : `=(${REDACTED})`));
    }
    if (options.rules.length > 0) text = maskText(text, options.rules).text;
    if (text !== fields[key]) {
      fields[key] = text;
      changed = true;
    }
  }
  if (!changed) return raw;
  for (const [key, value] of Object.entries(fields)) w.int8(key.charCodeAt(0)).cstring(value);
  return w.int8(0).frame(raw[0] === B.NoticeResponse ? B.NoticeResponse : B.ErrorResponse);
}
