import { z } from "zod";
import { secretRef } from "../../config/secret-ref.ts";
import { DETECTOR_NAMES } from "../../gate/masking/detectors.ts";
import { WEEKDAYS } from "./window.ts";

/**
 * The policy document: targets, access grants, rules and masking profiles, written as YAML
 * (one or more files, merged) and published whole as one PolicyVersionPublished event.
 * Default deny; precedence deny > require_approval > allow.
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const name = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, "lower-case letters, digits, '.', '_' and '-'");
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, "a duration like 30s, 15m, 8h or 1d")
  .transform(parseDuration);
const globs = z.array(z.string().min(1)).min(1);
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "a time like 09:00");

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const accessLevels = ["read-only", "read-write", "admin"] as const;
export type AccessLevel = (typeof accessLevels)[number];

const target = z
  .object({
    name,
    protocol: z.enum(["postgres", "ssh", "http", "kubernetes"]),
    /** host:port for postgres/ssh, base URL for http/kubernetes. */
    address: z.string().min(1),
    /** The gateway's upstream credential: a reference, never the secret. */
    credential: secretRef.optional(),
    /** postgres: create a short-lived role per credential, member of this template role. */
    ephemeralRole: z
      .object({ template: z.string().min(1) })
      .strict()
      .optional(),
    /** Default masking profile for everything read from this target. */
    masking: name.optional(),
    labels: z.record(z.string(), z.string()).default({}),
    /** ssh: the upstream login; postgres: the user when `credential` is a bare password. */
    user: z.string().min(1).optional(),
    /** ssh: accepted upstream host keys, OpenSSH known_hosts lines (`host keytype base64`) or a file of them. */
    knownHosts: z
      .union([z.array(z.string().min(1)).min(1), z.object({ file: z.string().min(1) }).strict()])
      .optional(),
    /** ssh: other upstream logins an agent may pick with `<login>@<target>` (globs); `user` is always allowed. */
    logins: z.array(z.string().min(1)).optional(),
    /** ssh: agents that sign in to the SSH port with a public key (`ssh-ed25519 AAAA…`) instead of a token. */
    agentKeys: z
      .array(
        z
          .object({
            subject: z.string().min(1),
            groups: z.array(z.string().min(1)).default([]),
            key: z.string().min(1),
          })
          .strict(),
      )
      .optional(),
    /** http/kubernetes: how the gateway's own credential is presented upstream. */
    auth: z.enum(["bearer", "basic", "none"]).optional(),
    /** http/kubernetes: client certificate and key (PEM) presented upstream. */
    clientCert: z.object({ cert: secretRef, key: secretRef }).strict().optional(),
    /** Upstream TLS: CA bundle (PEM) to trust; postgres/http/kubernetes. */
    ca: secretRef.optional(),
    /** http/kubernetes: requests whose Host header is one of these go to this target. */
    hostnames: z.array(z.string().min(1)).optional(),
    /** http/kubernetes: requests under `/<pathPrefix>/` go to this target (prefix stripped); default the target name. */
    pathPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._~-]+$/)
      .optional(),
  })
  .strict();

const subjects = z
  .object({ subjects: globs.optional(), groups: globs.optional() })
  .strict()
  .refine((s) => s.subjects || s.groups, "name subjects, groups or both");

const grant = z
  .object({
    name,
    who: subjects,
    targets: globs,
    level: z.enum(accessLevels),
    /** Longest credential this grant allows for a sub-task. */
    maxTtl: duration.default(parseDuration("1h")),
    /** A credential under this grant is issued only once these approvers say yes. */
    approval: z
      .object({
        groups: z.array(z.string().min(1)).min(1),
        quorum: z.number().int().positive().default(1),
        timeout: duration.default(parseDuration("15m")),
      })
      .strict()
      .optional(),
    masking: name.optional(),
  })
  .strict();

const sqlMatch = z
  .object({
    kinds: globs.optional(),
    relations: globs.optional(),
    functions: globs.optional(),
    flags: globs.optional(),
    readOnly: z.boolean().optional(),
    unparsed: z.boolean().optional(),
  })
  .strict();

const sshMatch = z
  .object({
    requests: z.array(z.enum(["exec", "shell", "sftp", "port_forward", "agent_forward", "x11"])).optional(),
    programs: globs.optional(),
    /** Regular expression over the whole command line. */
    commandMatches: z.string().optional(),
    sudo: z.boolean().optional(),
  })
  .strict();

const httpMatch = z
  .object({
    methods: z.array(z.string().toUpperCase()).optional(),
    paths: globs.optional(),
    verbs: globs.optional(),
    resources: globs.optional(),
    namespaces: globs.optional(),
    subresources: globs.optional(),
  })
  .strict();

const match = z
  .object({
    targets: globs.optional(),
    who: subjects.optional(),
    sql: sqlMatch.optional(),
    ssh: sshMatch.optional(),
    http: httpMatch.optional(),
  })
  .strict()
  .default({});

const approval = z
  .object({
    groups: z.array(z.string().min(1)).min(1),
    quorum: z.number().int().positive().default(1),
    timeout: duration.default(parseDuration("15m")),
    /** A grant covers identical re-runs in the same session/task for this long (default: that one run). */
    reuseWithin: duration.optional(),
    /** Policy approves by itself inside this window (recorded as a vote by the rule); people decide outside it. */
    autoApprove: z
      .object({
        days: z.array(z.enum(WEEKDAYS)).min(1).default(["mon", "tue", "wed", "thu", "fri"]),
        from: clock,
        to: clock,
        timezone: z.string().refine(validTimeZone, "an IANA time zone such as Europe/Berlin").default("UTC"),
      })
      .strict()
      .optional(),
  })
  .strict();

const rule = z.discriminatedUnion("action", [
  z.object({ name, action: z.literal("deny"), reason: z.string().optional(), match }).strict(),
  z
    .object({ name, action: z.literal("require_approval"), reason: z.string().optional(), match, approval })
    .strict(),
  z
    .object({
      name,
      action: z.literal("allow"),
      reason: z.string().optional(),
      match,
      masking: name.optional(),
    })
    .strict(),
]);

const strategy = z.enum(["redact", "partial", "hash", "null"]);

/** A JSONPath subset: `$`, `.name`, `.*`, `['name']`, `[*]`, `[0]`, and `..` before any of them (any depth). */
const jsonPath = z
  .string()
  .regex(
    /^\$(?:\.\.?(?:[A-Za-z0-9_@$-]+|\*)|(?:\.\.)?\[(?:\*|\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\])*$/,
    "a JSONPath like $.items[*].spec.token or $..password",
  );

const maskingProfile = z
  .object({
    name,
    /** `schema.table.column`, each part a glob (`*.users.email`, `public.*.ssn`). */
    columns: z
      .array(
        z
          .object({ column: z.string().regex(/^[^.]+\.[^.]+\.[^.]+$/, "schema.table.column"), strategy })
          .strict(),
      )
      .default([]),
    detectors: z.array(z.object({ detector: z.enum(DETECTOR_NAMES), strategy }).strict()).default([]),
    /** When lineage of an output column cannot be established for a query touching masked columns. */
    unknownLineage: z.enum(["mask", "deny"]).default("mask"),
    /** http/kubernetes: JSON values masked by path (`$.items[*].spec.token`, `$..password`); containers mask every leaf. */
    jsonPaths: z.array(z.object({ path: jsonPath, strategy }).strict()).default([]),
    /** kubernetes: Secret values (`data`, `stringData`) in responses are redacted, hashed, or passed as they are. */
    secrets: z.enum(["redact", "hash", "reveal"]).default("redact"),
  })
  .strict();

export const policyDocument = z
  .object({
    targets: z.array(target).default([]),
    access: z.array(grant).default([]),
    rules: z.array(rule).default([]),
    masking: z.array(maskingProfile).default([]),
    /** Salt for the `hash` masking strategy, per deployment. */
    maskingSalt: secretRef.optional(),
  })
  .strict();

export type PolicyDocument = z.output<typeof policyDocument>;
export type Target = PolicyDocument["targets"][number];
export type Grant = PolicyDocument["access"][number];
export type Rule = PolicyDocument["rules"][number];
export type MaskingProfile = PolicyDocument["masking"][number];
export type SqlMatch = z.output<typeof sqlMatch>;
export type SshMatch = z.output<typeof sshMatch>;
export type HttpMatch = z.output<typeof httpMatch>;

/** "15m" → 900000 (milliseconds). */
export function parseDuration(text: string): number {
  const found = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!found) throw new Error(`not a duration: ${text}`);
  return Number(found[1]) * UNIT_MS[found[2] as keyof typeof UNIT_MS];
}
