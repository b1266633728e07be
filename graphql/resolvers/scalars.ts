import type { ValueNode } from "graphql";
import { badInput } from "../errors.ts";

/**
 * DateTime: ISO 8601 with offset, as the events carry it. JSON: any value, as stored. Plain
 * scalar configs rather than GraphQLScalarType: no second copy of the graphql package involved.
 */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): string {
  if (typeof value !== "string" || !ISO.test(value) || Number.isNaN(Date.parse(value))) {
    throw badInput("DateTime must be ISO 8601 with an offset, e.g. 2026-03-01T10:00:00Z");
  }
  return value;
}

export const DateTime = {
  serialize: (value: unknown) => (value instanceof Date ? value.toISOString() : String(value)),
  parseValue: parseDateTime,
  parseLiteral: (ast: ValueNode) => parseDateTime(ast.kind === "StringValue" ? ast.value : undefined),
};

export const JSONScalar = {
  serialize: (value: unknown) => value,
  parseValue: (value: unknown) => value,
};
