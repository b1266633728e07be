import { badInput } from "./errors.ts";

/** Relay-style connections over keyset queries: opaque cursors, `first` bounded. */

export const MAX_PAGE = 500;

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The key a cursor carries, checked against the expected shape; a bad one is BAD_USER_INPUT. */
export function decodeCursor(cursor: string | null | undefined, shape: readonly ("string" | "number")[]) {
  if (cursor === null || cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw badInput("invalid cursor");
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((v, i) => typeof v !== shape[i])) {
    throw badInput("invalid cursor");
  }
  return key as (string | number)[];
}

export function pageSize(first: number | null | undefined, fallback = 50): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE) {
    throw badInput(`first must be between 0 and ${MAX_PAGE}`);
  }
  return size;
}

/** Builds a connection from `size + 1` fetched rows: the extra one only says there is a next page. */
export function connection<R, T>(
  rows: readonly R[],
  size: number,
  key: (row: R) => readonly (string | number)[],
  node: (row: R) => T,
): Connection<T> {
  const page = rows.slice(0, size);
  const edges = page.map((row) => ({ cursor: encodeCursor(key(row)), node: node(row) }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > size, endCursor: edges[edges.length - 1]?.cursor ?? null },
  };
}

/**
 * A page of rows keyed by one number (a seq, a version): `fetch` gets the number after which
 * (or before which) to read, from the `after` cursor, and how many rows to read.
 */
export function numberKeyedPage<R>(
  args: { first?: unknown; after?: unknown },
  fetch: (after: number | undefined, limit: number) => readonly R[],
  key: (row: R) => number,
  fallbackSize?: number,
): Connection<R> {
  const size = pageSize(args.first as number | undefined, fallbackSize);
  const after = decodeCursor(typeof args.after === "string" ? args.after : undefined, ["number"]);
  return connection(
    fetch(after?.[0] as number | undefined, size + 1),
    size,
    (row) => [key(row)],
    (row) => row,
  );
}
