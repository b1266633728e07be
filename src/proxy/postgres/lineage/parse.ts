/** Parsing for lineage: the classifier's libpg-query module, with parse trees of view definitions cached. */

import { LRUCache } from "lru-cache";
import { initSqlClassifier } from "../../../gate/classify/sql.ts";
import { parseSql } from "../../../gate/classify/sql-parse.ts";
import { type Fields, unwrap } from "../../../gate/classify/sql-tree.ts";

export interface ParsedStatement {
  type: string;
  fields: Fields;
}

/** Loads the parser (shared with the SQL classifier); await once before lineageOf. */
export function initLineage(): Promise<void> {
  return initSqlClassifier();
}

/** The statements of a text, or undefined when it does not parse. Throws if the parser is not loaded. */
export function parseStatements(text: string): ParsedStatement[] | undefined {
  if (text.includes("\0")) return undefined;
  if (/^[ \t\n\r\f\v;]*$/.test(text)) return [];
  let tree: { stmts?: Array<{ stmt?: unknown }> };
  try {
    tree = parseSql(text);
  } catch (error) {
    if (error instanceof Error && /not (loaded|initialized)/i.test(error.message)) throw error;
    return undefined;
  }
  return (tree.stmts ?? []).map((raw) => {
    const [type, fields] = unwrap(raw.stmt) ?? ["", {}];
    return { type, fields };
  });
}

// View definitions are parsed again for every statement that reads the view: keep their trees.
const definitions = new LRUCache<string, ParsedStatement[] | false>({ max: 2_000 });

export function parseDefinition(text: string): ParsedStatement[] | undefined {
  let parsed = definitions.get(text);
  if (parsed === undefined) {
    parsed = parseStatements(text) ?? false;
    definitions.set(text, parsed);
  }
  return parsed === false ? undefined : parsed;
}
