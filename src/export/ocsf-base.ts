import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { IdentityRef } from "../events/index.ts";
import type { EventRef, SessionInfo } from "./commands.ts";

/**
 * What every OCSF 1.3.0 record Sluice writes shares: the base event (class, activity, time,
 * severity, status, metadata, the link back to the ledger), users, endpoints and sessions.
 */

export const OCSF_VERSION = "1.3.0";

export const PRODUCT = {
  name: "Sluice",
  vendor_name: "Sluice",
  version: (
    JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
  ).version,
};

export type OcsfRecord = { [key: string]: unknown };

export const CLASSES = {
  authentication: { uid: 3002, name: "Authentication", category: 3 },
  authorizeSession: { uid: 3003, name: "Authorize Session", category: 3 },
  ssh: { uid: 4007, name: "SSH Activity", category: 4 },
  api: { uid: 6003, name: "API Activity", category: 6 },
  datastore: { uid: 6005, name: "Datastore Activity", category: 6 },
} as const;
export type OcsfClass = (typeof CLASSES)[keyof typeof CLASSES];

const CATEGORY_NAMES: { [id: number]: string } = {
  3: "Identity & Access Management",
  4: "Network Activity",
  6: "Application Activity",
};

const SEVERITY = ["Unknown", "Informational", "Low", "Medium"] as const;
const STATUS = ["Unknown", "Success", "Failure"] as const;

export interface Outcome {
  severity_id: 1 | 2 | 3;
  status_id: 0 | 1 | 2;
  status_detail?: string;
  status_code?: string;
}

/** The base event every class shares; each mapping then sets its own attributes on it (no copies). */
export function base(
  cls: OcsfClass,
  activityId: number,
  activityName: string,
  ref: EventRef,
  outcome: Outcome,
  correlation?: string,
): OcsfRecord {
  const metadata: OcsfRecord = {
    version: OCSF_VERSION,
    product: PRODUCT,
    uid: ref.eventId,
    original_time: ref.time,
    log_name: "sluice",
    log_provider: ref.gatewayInstance,
  };
  if (correlation !== undefined) metadata.correlation_uid = correlation;
  const record: OcsfRecord = {
    class_uid: cls.uid,
    class_name: cls.name,
    category_uid: cls.category,
    category_name: CATEGORY_NAMES[cls.category],
    activity_id: activityId,
    activity_name: activityName,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
    time: Date.parse(ref.time),
    severity_id: outcome.severity_id,
    severity: SEVERITY[outcome.severity_id],
    status_id: outcome.status_id,
    status: STATUS[outcome.status_id],
    metadata,
    unmapped: { sluice_position: ref.position.toString(), sluice_event_hash: ref.hash },
  };
  if (outcome.status_detail !== undefined) record.status_detail = outcome.status_detail;
  if (outcome.status_code !== undefined) record.status_code = outcome.status_code;
  return record;
}

export const INFO_OK: Outcome = { severity_id: 1, status_id: 1 };

const USER_TYPES = {
  human: { type_id: 1, type: "User" },
  agent: { type_id: 99, type: "Agent" },
  gateway: { type_id: 3, type: "System" },
  policy: { type_id: 3, type: "System" },
} as const;

export function ocsfUser(identity: IdentityRef): OcsfRecord {
  const type = USER_TYPES[identity.kind] ?? USER_TYPES.agent;
  const groups: OcsfRecord[] = [];
  for (const name of identity.groups) groups.push({ name });
  return { uid: identity.subject, name: identity.subject, type_id: type.type_id, type: type.type, groups };
}

/** A client address as recorded ("ip", "ip:port", "[v6]:port", or a name) as an OCSF network endpoint. */
export function ocsfEndpoint(address: string): OcsfRecord {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed?.[1] && isIP(bracketed[1]))
    return bracketed[2] ? { ip: bracketed[1], port: Number(bracketed[2]) } : { ip: bracketed[1] };
  if (isIP(address)) return { ip: address };
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon);
  const port = address.slice(colon + 1);
  if (colon > 0 && isIP(host) && /^\d{1,5}$/.test(port)) return { ip: host, port: Number(port) };
  return { name: address || "unknown" };
}

export function sessionObject(sessionId: string, session: SessionInfo | undefined): OcsfRecord {
  return session?.credentialId
    ? { uid: sessionId, credential_uid: session.credentialId, is_remote: true }
    : { uid: sessionId, is_remote: true };
}
