import type { GraphQLError } from "graphql";
import { createGraphQLError, type MaskError } from "graphql-yoga";
import { isSluiceError, type SluiceErrorCode } from "../src/errors.ts";
import type { Logger } from "../src/log.ts";

/**
 * Errors as clients see them: a message written for them and `extensions.code`. Refusals keep
 * their message; anything unexpected becomes "Unexpected error." and is logged here instead.
 */

export type ApiErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "BAD_USER_INPUT"
  | "QUERY_TOO_COMPLEX"
  | "PERSISTED_QUERY_NOT_FOUND"
  | "PERSISTED_QUERY_ONLY"
  | "APPROVAL_REQUIRED"
  | "INTERNAL_SERVER_ERROR";

const HTTP_STATUS: Partial<Record<ApiErrorCode, number>> = { UNAUTHENTICATED: 401 };

export function apiError(
  code: ApiErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): GraphQLError {
  const status = HTTP_STATUS[code];
  return createGraphQLError(message, {
    extensions: { code, ...extra, ...(status ? { http: { status } } : {}) },
  });
}

export const forbidden = (message: string) => apiError("FORBIDDEN", message);
export const badInput = (message: string) => apiError("BAD_USER_INPUT", message);

/** Sluice's error codes that are a refusal or a mistake of the caller, with the code clients see. */
const CLIENT_CODES: Partial<Record<SluiceErrorCode, ApiErrorCode>> = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFIG_INVALID: "BAD_USER_INPUT",
  EVENT_INVALID: "BAD_USER_INPUT",
  APPROVAL_REQUIRED: "APPROVAL_REQUIRED",
};

/**
 * By shape, not instanceof: under some loaders (vitest) this file and yoga get different
 * copies of the graphql package (ESM and CJS builds), so their GraphQLError classes differ.
 */
export function isGraphQLError(value: unknown): value is GraphQLError {
  return value instanceof Error && value.name === "GraphQLError" && "extensions" in value;
}

/** Yoga's maskError: maps Sluice errors, hides everything else. */
export function maskError(log: Logger): MaskError {
  return (error) => {
    const original = isGraphQLError(error) ? (error.originalError ?? error) : error;
    if (isSluiceError(original)) {
      const code = CLIENT_CODES[original.code];
      if (code) {
        const reason = original.code === "UNAUTHENTICATED" ? original.details.reason : undefined;
        const approvalId = original.code === "APPROVAL_REQUIRED" ? original.details.approvalId : undefined;
        const extensions = reason ? { reason } : approvalId ? { approvalId } : {};
        return withPath(apiError(code, original.message, extensions), error);
      }
    } else if (isGraphQLError(original) && original.extensions?.code) {
      return error as Error; // ours, already meant for the client
    }
    log.error({ err: original }, "GraphQL request failed");
    return withPath(apiError("INTERNAL_SERVER_ERROR", "Unexpected error."), error);
  };
}

function withPath(mapped: GraphQLError, from: unknown): GraphQLError {
  if (!isGraphQLError(from) || (!from.path && !from.nodes)) return mapped;
  return createGraphQLError(mapped.message, {
    nodes: from.nodes,
    path: from.path,
    extensions: mapped.extensions,
  });
}
