import { parseSync } from "libpg-query";
import { LRUCache } from "lru-cache";

export interface ParseTree {
  stmts?: Array<{ stmt?: unknown }>;
}

// A statement is parsed by the classifier, then by lineage and COPY inspection: one parse serves all.
const recent = new LRUCache<string, ParseTree | Error>({ max: 256 });
const MAX_CACHED_LENGTH = 16_384;

/**
 * libpg-query's parse tree of a text, shared by every reader of the same text in a row (trees
 * are read-only); throws the parser's error for text that does not parse.
 */
export function parseSql(text: string): ParseTree {
  const cached = text.length <= MAX_CACHED_LENGTH ? recent.get(text) : undefined;
  if (cached instanceof Error) throw cached;
  if (cached) return cached;
  let result: ParseTree | Error;
  try {
    result = parseSync(text) as ParseTree;
  } catch (error) {
    // A parser that is not loaded yet is the caller's bug, not a property of the text: never cached.
    if (error instanceof Error && /not (loaded|initialized)/i.test(error.message)) throw error;
    result = error instanceof Error ? error : new Error(String(error));
  }
  if (text.length <= MAX_CACHED_LENGTH) recent.set(text, result);
  if (result instanceof Error) throw result;
  return result;
}
