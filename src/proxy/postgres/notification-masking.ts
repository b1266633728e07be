import { classifySql } from "../../gate/classify/sql.ts";
import { type ContentRule, maskText } from "../../gate/masking/index.ts";
import type { CompiledProfile } from "../../gate/masking/profile.ts";
import { B, decodeNotification } from "./codec/backend.ts";
import { MessageWriter } from "./codec/writer.ts";
import { BUILTIN_NAMES, readsHiddenData } from "./lineage/functions.ts";
import { type CatalogLookup, namesNeeded, type QualifiedName } from "./lineage/index.ts";

/**
 * Side channels past every column plan. `SELECT pg_notify('c', ssn) FROM users` returns
 * nothing worth masking while the value travels in a NotificationResponse (to this session or
 * any other listener); `SELECT set_config('application_name', ssn, false) FROM users` puts it
 * in a setting, sent back as ParameterStatus and readable later with current_setting(). Two
 * layers keep masked data off them:
 *
 * 1. Before a statement runs (`sideChannelRefusal`): while the profile has column rules, a
 *    statement that calls pg_notify or set_config is refused when anything it touches could be
 *    masked — any column of any relation it names (views expanded), or a function that may
 *    read any table. Code Sluice cannot see into (DO blocks, function bodies, dynamic SQL) is
 *    refused when it mentions either at all. Over unmasked data both run as usual.
 * 2. Every NotificationResponse payload goes through the profile's content detectors
 *    (`maskNotification`), whoever sent it.
 *
 * Not covered: NOTIFY raised by code that is already in the database (a trigger, a user
 * function, a rule) and does not show in the statement; its payload gets the detectors only.
 */

/** The functions that carry a value out of band, and where to. */
const SIDE_CHANNELS = new Map([
  ["pg_notify", "a notification"],
  ["set_config", "a setting"],
]);
const SIDE_CHANNEL_WORD = /notify|set_config/i;

/** Why the statement is refused, or null when it cannot carry masked data out of band. */
export function sideChannelRefusal(
  text: string,
  lookup: CatalogLookup,
  profile: CompiledProfile,
): string | null {
  if (!profile.hasColumnRules || !SIDE_CHANNEL_WORD.test(text)) return null;
  const sql = classifySql(text);
  const hidden =
    sql.flags.includes("do_block") || sql.functions.some((name) => readsHiddenData(baseName(name)));
  if (hidden)
    return "it runs code Sluice cannot see into (a DO block, a function body or dynamic SQL) that mentions NOTIFY or set_config, which could carry masked columns out of band";
  const names = namesNeeded(text, lookup);
  const channel = names.functions.find((f) => SIDE_CHANNELS.has(f.name));
  if (!channel) return null;
  const into = `${channel.name} could carry ${"%s"} out of band in ${SIDE_CHANNELS.get(channel.name)}`;
  const column = maskedColumnTouched(names.relations, lookup, profile);
  if (column) return into.replace("%s", `masked column ${column}`);
  const opaque = names.functions.find((f) => !SIDE_CHANNELS.has(f.name) && mayReadAnyTable(f, lookup));
  if (opaque) return into.replace("%s", `the output of ${qualified(opaque)}, which may read masked columns,`);
  return null;
}

/** The first column the profile masks among every column of the relations named (views come with their base tables). */
function maskedColumnTouched(
  relations: readonly QualifiedName[],
  lookup: CatalogLookup,
  profile: CompiledProfile,
): string | undefined {
  for (const { schema, name } of relations) {
    // Not found: a CTE name, or a relation the statement will fail on.
    const info = lookup.relation(schema, name);
    if (!info) continue;
    for (const column of info.columns) {
      const full = `${info.schema}.${info.name}.${column}`;
      if (profile.columnStrategy(full)) return full;
    }
  }
  return undefined;
}

function mayReadAnyTable(f: QualifiedName, lookup: CatalogLookup): boolean {
  if (readsHiddenData(f.name)) return true;
  if (lookup.functionKind) return lookup.functionKind(f.schema, f.name) === "user";
  return !BUILTIN_NAMES.has(f.name);
}

function baseName(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? name : name.slice(dot + 1);
}

function qualified(f: QualifiedName): string {
  return f.schema ? `${f.schema}.${f.name}` : f.name;
}

const w = new MessageWriter();

/**
 * A NotificationResponse with its payload through the content detectors, re-framed when
 * anything was masked (the frame as it came otherwise). `tally` hears what was masked.
 */
export function maskNotification(
  raw: Buffer,
  rules: readonly ContentRule[],
  tally?: (field: string, rule: string, count: number) => void,
): Buffer {
  if (rules.length === 0) return raw;
  const { processId, channel, payload } = decodeNotification(raw);
  const { text, findings } = maskText(payload, rules);
  if (findings.length === 0) return raw;
  if (tally) for (const finding of findings) tally(`notification ${channel}`, finding.rule, finding.count);
  return w.int32(processId).cstring(channel).cstring(text).frame(B.NotificationResponse);
}
