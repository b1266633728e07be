import type { EventData } from "../events/index.ts";
import type { CompletedCommand, DecidedCommand } from "./commands.ts";
import {
  base,
  CLASSES,
  type OcsfClass,
  type OcsfRecord,
  type Outcome,
  ocsfEndpoint,
  ocsfUser,
  sessionObject,
} from "./ocsf-base.ts";

/**
 * A command decision with its completion as one OCSF 1.3.0 record: Datastore Activity (PostgreSQL),
 * SSH Activity, or API Activity (HTTP, Kubernetes), with the gate's decision in the Security
 * Control profile and the actor's authorizations (docs/ocsf.md has the field mapping).
 */

/** A command decision with its completion: Datastore (6005), SSH (4007) or API (6003) Activity. */
export function commandRecord(decided: DecidedCommand, completed: CompletedCommand | undefined): OcsfRecord {
  const { data, ref, session } = decided;
  const outcome = commandOutcome(data, completed?.data);
  const classification = data.classification as { [key: string]: unknown };
  const [cls, activityId, activityName] = commandActivity(data.protocol, classification);
  const record = base(cls, activityId, activityName, ref, outcome, data.sessionId);
  const control = outcome.control;
  record.action_id = control.action_id;
  record.action = control.action;
  record.disposition_id = control.disposition_id;
  record.disposition = control.disposition;
  (record.metadata as OcsfRecord).profiles = ["security_control"];
  record.actor = {
    user: ocsfUser(session?.identity ?? { subject: ref.actor ?? "unknown", groups: [], kind: "agent" }),
    session: sessionObject(data.sessionId, session),
    authorizations: [
      {
        decision: data.decision,
        policy: { name: data.rule ?? "default deny", version: String(data.policyVersion), is_applied: true },
      },
    ],
  };
  record.src_endpoint = ocsfEndpoint(session?.client.address ?? "");
  record.message = data.reason;
  if (completed) record.duration = Math.round(completed.data.durationMs);
  const unmapped = record.unmapped as OcsfRecord;
  unmapped.sluice_command_id = data.commandId;
  if (data.approvalId) unmapped.sluice_approval_id = data.approvalId;
  if (completed?.data.rows !== undefined) unmapped.sluice_rows = completed.data.rows;

  const target = session?.target ?? "unknown";
  if (cls === CLASSES.datastore) {
    const relations = (classification.relations as string[] | undefined) ?? [];
    record.database = { name: target, type_id: 1, type: "Relational" };
    if (relations.length === 1) record.table = { name: relations[0] };
    record.query_info = { query_string: data.command, uid: data.commandId };
    record.type_id = 1;
    record.type = "Database";
    return record;
  }
  if (cls === CLASSES.ssh) {
    record.dst_endpoint = { name: target, svc_name: "ssh" };
    record.message = data.command;
    return record;
  }
  const method = String(classification.method ?? data.command.split(" ")[0] ?? "");
  const space = data.command.indexOf(" ");
  const url = space === -1 ? data.command : data.command.slice(space + 1);
  const query = url.indexOf("?");
  const api: OcsfRecord = {
    operation: String(classification.verb ?? method),
    service: { name: target },
    request: { uid: data.commandId },
  };
  if (completed?.data.error)
    api.response = { error: completed.data.error.code, message: completed.data.error.message };
  record.api = api;
  const urlObject: OcsfRecord = { url_string: url, path: String(classification.path ?? "") };
  if (query !== -1) urlObject.query_string = url.slice(query + 1);
  record.http_request = { http_method: method, url: urlObject };
  if (classification.resource) {
    const resource: OcsfRecord = { type: String(classification.resource) };
    if (classification.name) resource.name = String(classification.name);
    if (classification.namespace) resource.namespace = String(classification.namespace);
    record.resources = [resource];
  }
  return record;
}

const SQL_ACTIVITIES: { [kind: string]: [number, string] } = {
  select: [4, "Query"],
  insert: [6, "Create"],
  update: [2, "Update"],
  delete: [7, "Delete"],
  truncate: [7, "Delete"],
  merge: [5, "Write"],
};

const API_VERBS: { [verb: string]: [number, string] } = {
  create: [1, "Create"],
  post: [1, "Create"],
  get: [2, "Read"],
  list: [2, "Read"],
  watch: [2, "Read"],
  head: [2, "Read"],
  options: [2, "Read"],
  update: [3, "Update"],
  patch: [3, "Update"],
  put: [3, "Update"],
  delete: [4, "Delete"],
  deletecollection: [4, "Delete"],
};

function commandActivity(
  protocol: string,
  classification: { [key: string]: unknown },
): [OcsfClass, number, string] {
  if (protocol === "postgres") {
    const kind = ((classification.kinds as string[] | undefined) ?? [])[0] ?? "unknown";
    const known = SQL_ACTIVITIES[kind];
    if (known) return [CLASSES.datastore, ...known];
    if (kind === "copy")
      return [
        CLASSES.datastore,
        ...((classification.writes as string[] | undefined)?.length ? [5, "Write"] : [1, "Read"]),
      ] as [OcsfClass, number, string];
    if (kind.startsWith("create")) return [CLASSES.datastore, 6, "Create"];
    if (kind.startsWith("drop")) return [CLASSES.datastore, 7, "Delete"];
    if (kind.startsWith("alter")) return [CLASSES.datastore, 2, "Update"];
    return [CLASSES.datastore, 99, kind];
  }
  if (protocol === "ssh") {
    const request = String(classification.request ?? "exec");
    return [CLASSES.ssh, 99, request === "exec" ? "Command" : request];
  }
  const verb = String(classification.verb ?? classification.method ?? "").toLowerCase();
  const known = API_VERBS[verb];
  return known ? [CLASSES.api, ...known] : [CLASSES.api, 99, verb || "unknown"];
}

/**
 * The gate's final word on a command: denied by policy or by an approver (a "denied"
 * completion) is Denied/Blocked; otherwise Allowed. Status is the completion's: ok is Success,
 * anything else Failure; a command with no completion in the range is Unknown (or Failure when refused).
 */
function commandOutcome(
  decided: EventData<"CommandDecided">,
  completed: EventData<"CommandCompleted"> | undefined,
): Outcome & { control: (typeof CONTROLS)[keyof typeof CONTROLS] } {
  const refused = decided.decision === "deny" || completed?.status === "denied";
  const pending = decided.decision === "require_approval" && !completed;
  const outcome: Outcome & { control: (typeof CONTROLS)[keyof typeof CONTROLS] } = {
    severity_id: refused ? 3 : decided.decision === "require_approval" ? 2 : 1,
    status_id: completed ? (completed.status === "ok" ? 1 : 2) : refused ? 2 : 0,
    status_detail: completed?.error?.message ?? decided.reason,
    control: refused ? CONTROLS.denied : pending ? CONTROLS.unknown : CONTROLS.allowed,
  };
  if (completed?.error) outcome.status_code = completed.error.code;
  return outcome;
}

const CONTROLS = {
  denied: { action_id: 2, action: "Denied", disposition_id: 2, disposition: "Blocked" },
  unknown: { action_id: 0, action: "Unknown", disposition_id: 0, disposition: "Unknown" },
  allowed: { action_id: 1, action: "Allowed", disposition_id: 1, disposition: "Allowed" },
} as const;
