import { describe, expect, it } from "vitest";
import type { EventData } from "../../src/events/index.ts";
import type { DecidedCommand, EventRef, SessionInfo } from "../../src/export/commands.ts";
import { ocsfEndpoint } from "../../src/export/ocsf-base.ts";
import { commandRecord } from "../../src/export/ocsf-commands.ts";
import { authentication, credentialGranted } from "../../src/export/ocsf-map.ts";
import { checkOcsfRecord } from "../../src/export/ocsf-shapes.ts";

const ref: EventRef = {
  position: 42n,
  hash: "ab".repeat(32),
  eventId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
  time: "2026-03-01T10:00:00.000Z",
  gatewayInstance: "gw-1",
  actor: "agent-7",
};
const session: SessionInfo = {
  sessionId: "s1",
  identity: { subject: "agent-7", groups: ["agents"], kind: "agent" },
  target: "orders-db",
  protocol: "postgres",
  client: { address: "10.0.0.9:61000" },
};

function decided(
  data: Partial<EventData<"CommandDecided">>,
  at: SessionInfo | null = session,
): DecidedCommand {
  return {
    ref,
    session: at ?? undefined,
    data: {
      sessionId: "s1",
      commandId: "c1",
      protocol: "postgres",
      command: "SELECT 1",
      classification: { kinds: ["select"], relations: [] },
      decision: "allow",
      rule: "r",
      reason: "allowed",
      policyVersion: 3,
      ...data,
    },
  };
}

const completed = (status: EventData<"CommandCompleted">["status"]) => ({
  ref,
  data: { sessionId: "s1", commandId: "c1", status, durationMs: 2, masked: [] },
});

describe("OCSF mapping", () => {
  it("reads client addresses as recorded by each proxy", () => {
    expect(ocsfEndpoint("127.0.0.1:5432")).toEqual({ ip: "127.0.0.1", port: 5432 });
    expect(ocsfEndpoint("10.0.0.1")).toEqual({ ip: "10.0.0.1" });
    expect(ocsfEndpoint("[::1]:2222")).toEqual({ ip: "::1", port: 2222 });
    expect(ocsfEndpoint("::ffff:10.1.1.1")).toEqual({ ip: "::ffff:10.1.1.1" });
    expect(ocsfEndpoint("unknown")).toEqual({ name: "unknown" });
    expect(ocsfEndpoint("")).toEqual({ name: "unknown" });
  });

  it.each([
    ["select", 4, "Query"],
    ["insert", 6, "Create"],
    ["update", 2, "Update"],
    ["delete", 7, "Delete"],
    ["truncate", 7, "Delete"],
    ["create_table", 6, "Create"],
    ["drop_table", 7, "Delete"],
    ["alter_table", 2, "Update"],
    ["grant", 99, "grant"],
  ])("a SQL %s is Datastore Activity %i (%s)", (kind, id, name) => {
    const record = commandRecord(
      decided({ classification: { kinds: [kind], relations: ["t"] } }),
      completed("ok"),
    );
    expect(record).toMatchObject({
      class_uid: 6005,
      activity_id: id,
      activity_name: name,
      type_uid: 600500 + id,
    });
    expect(checkOcsfRecord(record)).toBeNull();
  });

  it("COPY is a Write when it writes a relation and a Read otherwise", () => {
    const copyIn = commandRecord(decided({ classification: { kinds: ["copy"], writes: ["t"] } }), undefined);
    const copyOut = commandRecord(decided({ classification: { kinds: ["copy"], writes: [] } }), undefined);
    expect([copyIn.activity_name, copyOut.activity_name]).toEqual(["Write", "Read"]);
  });

  it.each([
    ["GET", undefined, 2],
    ["POST", undefined, 1],
    ["PATCH", undefined, 3],
    ["DELETE", undefined, 4],
    ["GET", "list", 2],
    ["POST", "create", 1],
    ["POST", "exec", 99],
  ])("HTTP %s (Kubernetes verb %s) is API Activity %i", (method, verb, id) => {
    const record = commandRecord(
      decided(
        {
          protocol: verb ? "kubernetes" : "http",
          command: `${method} /api/v1/pods`,
          classification: {
            method,
            path: "/api/v1/pods",
            query: {},
            ...(verb ? { verb, resource: "pods" } : {}),
          },
        },
        { ...session, protocol: verb ? "kubernetes" : "http" },
      ),
      completed("ok"),
    );
    expect(record).toMatchObject({ class_uid: 6003, activity_id: id, api: { operation: verb ?? method } });
    expect(checkOcsfRecord(record)).toBeNull();
  });

  it("names the gate's final word: policy denial, approver denial, pending approval, allowed", () => {
    const policyDenied = commandRecord(decided({ decision: "deny" }), undefined);
    expect(policyDenied).toMatchObject({
      action: "Denied",
      disposition: "Blocked",
      status_id: 2,
      severity_id: 3,
    });
    const approverDenied = commandRecord(
      decided({ decision: "require_approval", approvalId: "a1" }),
      completed("denied"),
    );
    expect(approverDenied).toMatchObject({
      action: "Denied",
      status: "Failure",
      unmapped: { sluice_approval_id: "a1" },
    });
    const pending = commandRecord(decided({ decision: "require_approval" }), undefined);
    expect(pending).toMatchObject({ action_id: 0, status_id: 0, severity_id: 2 });
    const failed = commandRecord(decided({}), completed("error"));
    expect(failed).toMatchObject({ action: "Allowed", status: "Failure" });
    for (const record of [policyDenied, approverDenied, pending, failed])
      expect(checkOcsfRecord(record)).toBeNull();
  });

  it("falls back to the event's actor when the session's start is not in the log", () => {
    const record = commandRecord(decided({}, null), undefined);
    expect(record).toMatchObject({
      actor: { user: { uid: "agent-7" } },
      src_endpoint: { name: "unknown" },
      database: { name: "unknown" },
    });
    expect(checkOcsfRecord(record)).toBeNull();
  });

  it("maps a session start and end to Logon and Logoff, and a credential to Assign Privileges", () => {
    const logon = authentication(ref, session);
    const logoff = authentication(ref, session, { sessionId: "s1", reason: "bye", durationMs: 1500.4 });
    const credential = credentialGranted(ref, {
      credentialId: "cr1",
      subject: session.identity,
      target: "orders-db",
      access: "read-only",
      taskId: "t1",
      expiresAt: "2026-03-01T11:00:00.000Z",
      tokenHash: "cd".repeat(32),
    });
    expect(logon).toMatchObject({
      class_uid: 3002,
      activity_id: 1,
      type_uid: 300201,
      auth_protocol: "OpenID",
      time: Date.parse(ref.time),
    });
    expect(logoff).toMatchObject({ activity_name: "Logoff", status_detail: "bye", duration: 1500 });
    expect(credential).toMatchObject({
      class_uid: 3003,
      activity_id: 1,
      privileges: ["read-only@orders-db"],
      session: { expiration_time: Date.parse("2026-03-01T11:00:00.000Z") },
    });
    for (const record of [logon, logoff, credential]) expect(checkOcsfRecord(record)).toBeNull();
  });
});

describe("OCSF shapes", () => {
  const valid = () => commandRecord(decided({}), completed("ok")) as Record<string, unknown>;

  it("require the base event's attributes", () => {
    for (const attribute of ["time", "severity_id", "metadata", "activity_id", "type_uid"]) {
      const record = valid();
      delete record[attribute];
      expect(checkOcsfRecord(record), attribute).not.toBeNull();
    }
    const noProduct = valid();
    (noProduct.metadata as Record<string, unknown>).product = { name: "Sluice" };
    expect(checkOcsfRecord(noProduct)).toMatch(/vendor_name/);
  });

  it("require each class's own attributes and constraints", () => {
    const noDatastore = valid();
    delete noDatastore.database;
    expect(checkOcsfRecord(noDatastore)).toMatch(/at least one of database, databucket, table/);
    const noActor = valid();
    delete noActor.actor;
    expect(checkOcsfRecord(noActor)).toMatch(/actor/);
    const logon = authentication(ref, session) as Record<string, unknown>;
    delete logon.service;
    expect(checkOcsfRecord(logon)).toMatch(/at least one of service, dst_endpoint/);
    const noUser = authentication(ref, session) as Record<string, unknown>;
    delete noUser.user;
    expect(checkOcsfRecord(noUser)).toMatch(/user/);
  });

  it("reject ids that disagree with their captions or with the class", () => {
    expect(checkOcsfRecord({ ...valid(), type_uid: 600501 })).toMatch(/type_uid must be/);
    expect(checkOcsfRecord({ ...valid(), status: "Failure" })).toMatch(/not the caption of status_id 1/);
    expect(checkOcsfRecord({ ...valid(), activity_id: 12, type_uid: 600512 })).toMatch(
      /activity_id 12 is not in the enum/,
    );
    expect(checkOcsfRecord({ ...valid(), class_uid: 4001 })).toMatch(/not one Sluice emits/);
  });
});
