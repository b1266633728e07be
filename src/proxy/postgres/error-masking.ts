import { type ContentRule, maskText } from "../../gate/masking/index.ts";
import { decodeFields } from "./codec/backend.ts";
import { B } from "./codec/codes.ts";
import { MessageWriter } from "./codec/writer.ts";

const REDACTED = "«redacted»";
/** Message fields that may quote data: message, detail, hint, context (where). */
const TEXT_FIELDS = new Set(["M", "D", "H", "W"]);
const w = new MessageWriter();

/**
 * Errors and notices can quote row data past every column plan: `invalid input syntax for type
 * integer: "987-65-4321"`, `Key (email)=(alice@example.com) already exists`. While a masking
 * profile with column rules applies, a quoted or keyed value that the statement text itself
 * does not contain (so came from the database, not from the agent) is redacted; content
 * detectors then run over every text field.
 */
export function maskServerMessage(
  raw: Buffer,
  statement: string,
  options: { redactQuoted: boolean; rules: readonly ContentRule[] },
): Buffer {
  const fields = decodeFields(raw);
  const lowered = statement.toLowerCase();
  const ownText = (value: string) => value.length > 0 && lowered.includes(value.toLowerCase());
  let changed = false;
  for (const key of Object.keys(fields)) {
    if (!TEXT_FIELDS.has(key)) continue;
    let text = fields[key] as string;
    if (options.redactQuoted) {
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
