import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { EnvelopArmor } from "@escape.tech/graphql-armor";
import type { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { SluiceError } from "../src/errors.ts";
import { apiError } from "./errors.ts";

/**
 * What keeps one request from costing too much: depth, cost, alias, directive and token limits
 * (graphql-armor), and optionally an allow-list of persisted operations.
 */

export interface GraphqlLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
}

/** armor's validation rules; a rejection carries extensions.code QUERY_TOO_COMPLEX. */
export function armorPlugins(limits: GraphqlLimits): Plugin[] {
  const tag = (_: unknown, error: GraphQLError) => {
    (error.extensions as Record<string, unknown>).code = "QUERY_TOO_COMPLEX";
  };
  const common = { onReject: [tag], exposeLimits: true };
  const armor = new EnvelopArmor({
    maxDepth: { n: limits.maxDepth, ...common },
    costLimit: { maxCost: limits.maxCost, ...common },
    maxAliases: { n: limits.maxAliases, ...common },
    maxTokens: { n: limits.maxTokens, ...common },
    maxDirectives: { n: 20, ...common },
    blockFieldSuggestion: { enabled: true },
  });
  return armor.protect().plugins as Plugin[];
}

export interface PersistedOperationsOptions {
  /** JSON: `{ "<sha256>": "<document>" }`, or an Apollo persisted query manifest. */
  file: string;
  /** Also accept operations that are not in the file (default: refuse them). */
  allowArbitrary: boolean;
}

/** Reads the allow-list, keyed by the SHA-256 (hex) of each document. */
export function loadPersistedOperations(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new SluiceError("CONFIG_INVALID", `persisted operations ${file}: ${(error as Error).message}`);
  }
  const entries: [string, unknown][] =
    parsed && typeof parsed === "object" && Array.isArray((parsed as { operations?: unknown }).operations)
      ? (parsed as { operations: { id: string; body: string }[] }).operations.map((op) => [op.id, op.body])
      : Object.entries(parsed as Record<string, unknown>);
  const operations = new Map<string, string>();
  for (const [id, body] of entries) {
    if (typeof body !== "string")
      throw new SluiceError("CONFIG_INVALID", `persisted operation ${id} is not a string`);
    operations.set(id, body);
    operations.set(sha256(body), body);
  }
  return operations;
}

/**
 * Requests name an operation by `extensions.persistedQuery.sha256Hash` (as Apollo's automatic
 * persisted queries send it); a full query text is accepted only if it is in the list, or
 * when `allowArbitrary` is set.
 */
export function persistedOperationsPlugin(operations: Map<string, string>, allowArbitrary: boolean): Plugin {
  return {
    onParams({ params, setParams }) {
      const extensions = params.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
      const id = extensions?.persistedQuery?.sha256Hash;
      if (typeof id === "string") {
        const query = operations.get(id);
        if (!query) throw apiError("PERSISTED_QUERY_NOT_FOUND", "no persisted operation has this id");
        setParams({ ...params, query });
        return;
      }
      if (allowArbitrary || (params.query && operations.has(sha256(params.query)))) return;
      throw apiError("PERSISTED_QUERY_ONLY", "this gateway accepts only persisted operations");
    },
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
