import type { EventData } from "../events/index.ts";
import type { EventRef, SessionInfo } from "./commands.ts";
import {
  base,
  CLASSES,
  INFO_OK,
  type OcsfRecord,
  type Outcome,
  ocsfEndpoint,
  ocsfUser,
  sessionObject,
} from "./ocsf-base.ts";

/**
 * Sessions and credentials as OCSF 1.3.0 records (commands are in ocsf-commands.ts). Classes used,
 * and how each field is filled, are in docs/ocsf.md; ocsf-shapes.ts checks each class's required fields.
 */

/** SessionStarted and SessionEnded: Authentication (3002) Logon / Logoff. */
export function authentication(
  ref: EventRef,
  session: SessionInfo,
  ended?: EventData<"SessionEnded">,
): OcsfRecord {
  const outcome: Outcome = ended ? { severity_id: 1, status_id: 1, status_detail: ended.reason } : INFO_OK;
  const record = base(
    CLASSES.authentication,
    ended ? 2 : 1,
    ended ? "Logoff" : "Logon",
    ref,
    outcome,
    session.sessionId,
  );
  const viaCredential = session.credentialId !== undefined;
  record.user = ocsfUser(session.identity);
  record.src_endpoint = ocsfEndpoint(session.client.address);
  record.service = { name: session.target };
  record.session = sessionObject(session.sessionId, session);
  record.is_remote = true;
  record.logon_type_id = 3;
  record.logon_type = "Network";
  record.auth_protocol_id = viaCredential ? 99 : 4;
  record.auth_protocol = viaCredential ? "Sluice credential" : "OpenID";
  if (ended) record.duration = Math.round(ended.durationMs);
  record.message = ended
    ? `${session.identity.subject} left the ${session.protocol} session to ${session.target}: ${ended.reason}`
    : `${session.identity.subject} opened a ${session.protocol} session to ${session.target}`;
  return record;
}

/** SessionStarted: Authorize Session (3003) Assign Groups, one record per group of the identity. */
export function groupsAssigned(ref: EventRef, session: SessionInfo): OcsfRecord[] {
  const records: OcsfRecord[] = [];
  for (const group of session.identity.groups) {
    const record = base(CLASSES.authorizeSession, 2, "Assign Groups", ref, INFO_OK, session.sessionId);
    record.user = ocsfUser(session.identity);
    record.session = sessionObject(session.sessionId, session);
    record.group = { name: group };
    record.message = `${session.identity.subject} holds group ${group} in session ${session.sessionId}`;
    records.push(record);
  }
  return records;
}

/** CredentialIssued: Authorize Session (3003) Assign Privileges — the access a sub-task credential grants. */
export function credentialGranted(ref: EventRef, data: EventData<"CredentialIssued">): OcsfRecord {
  const record = base(CLASSES.authorizeSession, 1, "Assign Privileges", ref, INFO_OK);
  record.user = ocsfUser(data.subject);
  record.privileges = [`${data.access}@${data.target}`];
  record.session = {
    uid: data.credentialId,
    credential_uid: data.credentialId,
    created_time: Date.parse(ref.time),
    expiration_time: Date.parse(data.expiresAt),
  };
  record.message = `credential ${data.credentialId} for task ${data.taskId}: ${data.access} on ${data.target}`;
  return record;
}

/** SSH sessions: SSH Activity (4007) Open / Close. */
export function sshConnection(
  ref: EventRef,
  session: SessionInfo,
  ended?: EventData<"SessionEnded">,
): OcsfRecord {
  const record = base(CLASSES.ssh, ended ? 2 : 1, ended ? "Close" : "Open", ref, INFO_OK, session.sessionId);
  record.actor = { user: ocsfUser(session.identity), session: sessionObject(session.sessionId, session) };
  record.src_endpoint = ocsfEndpoint(session.client.address);
  record.dst_endpoint = { name: session.target, svc_name: "ssh" };
  if (ended) record.duration = Math.round(ended.durationMs);
  return record;
}
