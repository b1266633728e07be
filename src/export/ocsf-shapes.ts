import { z } from "zod";

/**
 * The shapes of the OCSF 1.3.0 classes Sluice emits, written from the class definitions: every
 * attribute the schema marks required, each class's "at least one of" constraint, the enums'
 * id/caption pairs, and the types of the optional attributes Sluice fills. Extra attributes
 * are allowed (OCSF records may carry more), so these check what a consumer relies on.
 */

const int = z.number().int();
const timestamp = int.nonnegative();

/** An `_id` enum with its caption sibling: known ids must carry their caption, 99 (Other) any caption. */
function sibling(idKey: string, nameKey: string, captions: { [id: number]: string }) {
  return (record: { [key: string]: unknown }, ctx: z.RefinementCtx) => {
    const id = record[idKey];
    const name = record[nameKey];
    if (typeof id !== "number" || !(id in captions || id === 99)) {
      ctx.addIssue({ code: "custom", message: `${idKey} ${String(id)} is not in the enum`, path: [idKey] });
    } else if (name !== undefined && id !== 99 && name !== captions[id]) {
      ctx.addIssue({
        code: "custom",
        message: `${nameKey} "${String(name)}" is not the caption of ${idKey} ${id}`,
        path: [nameKey],
      });
    }
  };
}

const atLeastOne =
  (keys: string[]) =>
  (record: { [key: string]: unknown }, ctx: z.RefinementCtx): void => {
    if (!keys.some((key) => record[key] !== undefined))
      ctx.addIssue({ code: "custom", message: `at least one of ${keys.join(", ")} is required` });
  };

const product = z.looseObject({
  vendor_name: z.string().min(1),
  name: z.string().min(1),
  version: z.string().optional(),
});
const metadata = z.looseObject({
  version: z.string().regex(/^1\.\d+\.\d+$/),
  product,
  uid: z.string().optional(),
  correlation_uid: z.string().optional(),
  original_time: z.string().optional(),
  log_name: z.string().optional(),
  log_provider: z.string().optional(),
  profiles: z.array(z.string()).optional(),
});

const group = z
  .looseObject({ name: z.string().optional(), uid: z.string().optional() })
  .superRefine(atLeastOne(["name", "uid"]));

const user = z
  .looseObject({
    uid: z.string().optional(),
    name: z.string().optional(),
    type_id: int.optional(),
    type: z.string().optional(),
    groups: z.array(group).optional(),
  })
  .superRefine(atLeastOne(["uid", "name"]))
  .superRefine((u, ctx) => {
    if (u.type_id !== undefined)
      sibling("type_id", "type", { 0: "Unknown", 1: "User", 2: "Admin", 3: "System" })(u, ctx);
  });

const session = z.looseObject({
  uid: z.string().optional(),
  credential_uid: z.string().optional(),
  created_time: timestamp.optional(),
  expiration_time: timestamp.optional(),
  is_remote: z.boolean().optional(),
});

const endpoint = z
  .looseObject({
    ip: z.union([z.ipv4(), z.ipv6()]).optional(),
    port: int.min(0).max(65535).optional(),
    hostname: z.string().optional(),
    name: z.string().optional(),
    uid: z.string().optional(),
    svc_name: z.string().optional(),
  })
  .superRefine(atLeastOne(["ip", "hostname", "name", "uid", "svc_name"]));

const policy = z.looseObject({
  name: z.string().optional(),
  uid: z.string().optional(),
  version: z.string().optional(),
  is_applied: z.boolean().optional(),
});
const authorization = z.looseObject({ decision: z.string().optional(), policy: policy.optional() });
const actor = z
  .looseObject({
    user: user.optional(),
    session: session.optional(),
    authorizations: z.array(authorization).optional(),
  })
  .superRefine(atLeastOne(["user", "session", "process", "app_name", "invoked_by"]));

const SEVERITIES = {
  0: "Unknown",
  1: "Informational",
  2: "Low",
  3: "Medium",
  4: "High",
  5: "Critical",
  6: "Fatal",
};
const STATUSES = { 0: "Unknown", 1: "Success", 2: "Failure" };

/** Base event: required everywhere, with the category/class/type arithmetic OCSF defines. */
function baseEvent<S extends z.core.$ZodLooseShape>(
  classUid: number,
  categoryUid: number,
  activities: { [id: number]: string },
  shape: S,
) {
  return z
    .looseObject({
      class_uid: z.literal(classUid),
      category_uid: z.literal(categoryUid),
      activity_id: int,
      activity_name: z.string().optional(),
      type_uid: int,
      type_name: z.string().optional(),
      time: timestamp,
      severity_id: int,
      severity: z.string().optional(),
      status_id: int.optional(),
      status: z.string().optional(),
      status_code: z.string().optional(),
      status_detail: z.string().optional(),
      message: z.string().optional(),
      duration: int.nonnegative().optional(),
      metadata,
      unmapped: z.record(z.string(), z.unknown()).optional(),
      action_id: int.optional(),
      disposition_id: int.optional(),
      ...shape,
    })
    .superRefine((record, ctx) => {
      const r = record as { [key: string]: unknown };
      if (r.type_uid !== classUid * 100 + (r.activity_id as number))
        ctx.addIssue({
          code: "custom",
          message: "type_uid must be class_uid * 100 + activity_id",
          path: ["type_uid"],
        });
      sibling("activity_id", "activity_name", { 0: "Unknown", ...activities })(r, ctx);
      sibling("severity_id", "severity", SEVERITIES)(r, ctx);
      if (r.status_id !== undefined) sibling("status_id", "status", STATUSES)(r, ctx);
      if (r.action_id !== undefined)
        sibling("action_id", "action", { 0: "Unknown", 1: "Allowed", 2: "Denied" })(r, ctx);
      if (r.disposition_id !== undefined)
        sibling("disposition_id", "disposition", { 0: "Unknown", 1: "Allowed", 2: "Blocked" })(r, ctx);
    });
}

/** Authentication [3002], Identity & Access Management. */
export const authenticationShape = baseEvent(
  3002,
  3,
  {
    1: "Logon",
    2: "Logoff",
    3: "Authentication Ticket",
    4: "Service Ticket Request",
    5: "Service Ticket Renew",
  },
  {
    user,
    service: z.looseObject({ name: z.string() }).optional(),
    dst_endpoint: endpoint.optional(),
    src_endpoint: endpoint.optional(),
    session: session.optional(),
    is_remote: z.boolean().optional(),
    logon_type_id: int.optional(),
    auth_protocol_id: int.optional(),
  },
).superRefine((r, ctx) => atLeastOne(["service", "dst_endpoint"])(r as { [key: string]: unknown }, ctx));

/** Authorize Session [3003], Identity & Access Management. */
export const authorizeSessionShape = baseEvent(
  3003,
  3,
  { 1: "Assign Privileges", 2: "Assign Groups" },
  { user, session: session.optional(), group: group.optional(), privileges: z.array(z.string()).optional() },
).superRefine((r, ctx) => atLeastOne(["privileges", "group"])(r as { [key: string]: unknown }, ctx));

/** SSH Activity [4007], Network Activity: Sluice always knows both ends. */
export const sshActivityShape = baseEvent(
  4007,
  4,
  { 1: "Open", 2: "Close", 3: "Reset", 4: "Fail", 5: "Refuse", 6: "Traffic" },
  { src_endpoint: endpoint, dst_endpoint: endpoint, actor: actor.optional() },
);

/** API Activity [6003], Application Activity. */
export const apiActivityShape = baseEvent(
  6003,
  6,
  { 1: "Create", 2: "Read", 3: "Update", 4: "Delete" },
  {
    actor,
    api: z.looseObject({
      operation: z.string().min(1),
      service: z.looseObject({ name: z.string() }).optional(),
      request: z.looseObject({ uid: z.string() }).optional(),
    }),
    src_endpoint: endpoint,
    http_request: z
      .looseObject({
        http_method: z.string().optional(),
        url: z.looseObject({ url_string: z.string().optional(), path: z.string().optional() }).optional(),
      })
      .optional(),
    resources: z
      .array(z.looseObject({ type: z.string().optional(), name: z.string().optional() }))
      .optional(),
  },
);

/** Datastore Activity [6005], Application Activity. */
export const datastoreActivityShape = baseEvent(
  6005,
  6,
  { 1: "Read", 2: "Update", 3: "Connect", 4: "Query", 5: "Write", 6: "Create", 7: "Delete" },
  {
    actor,
    src_endpoint: endpoint,
    database: z
      .looseObject({ name: z.string().optional(), type_id: int, type: z.string().optional() })
      .optional(),
    databucket: z.looseObject({ name: z.string().optional() }).optional(),
    table: z.looseObject({ name: z.string() }).optional(),
    query_info: z.looseObject({ query_string: z.string(), uid: z.string().optional() }).optional(),
    type_id: int.optional(),
  },
).superRefine((r, ctx) =>
  atLeastOne(["database", "databucket", "table"])(r as { [key: string]: unknown }, ctx),
);

export const OCSF_SHAPES = {
  3002: authenticationShape,
  3003: authorizeSessionShape,
  4007: sshActivityShape,
  6003: apiActivityShape,
  6005: datastoreActivityShape,
} as const;

/** Checks one record against the shape of its class; the issues, or null when it conforms. */
export function checkOcsfRecord(record: unknown): string | null {
  const classUid = (record as { class_uid?: unknown } | null)?.class_uid;
  const shape = OCSF_SHAPES[classUid as keyof typeof OCSF_SHAPES];
  if (!shape) return `class_uid ${String(classUid)} is not one Sluice emits`;
  const result = shape.safeParse(record);
  if (result.success) return null;
  return result.error.issues
    .map((issue) => `${issue.path.join(".") || "(record)"}: ${issue.message}`)
    .join("; ");
}
