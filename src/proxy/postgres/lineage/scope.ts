/**
 * Name resolution while a statement is walked: FROM items of each query level, the CTEs in
 * view, and how a column reference (`email`, `u.email`, `public.users.email`, `u`, `u.*`)
 * finds the values it names. Ambiguity is resolved conservatively: every candidate at the
 * innermost level that has one counts.
 */
import type { CatalogLookup } from "./index.ts";
import { Acc, type Lin, unionLin, unknownLin } from "./lin.ts";

/** One output column of a query or FROM item. A spread stands for any number of columns (width unknown). */
export interface Out {
  name: string;
  lin: Lin;
  spread?: boolean;
}

/** A name a column can be qualified with: an alias, or a relation's own name. */
export interface Entry {
  alias: string;
  /** Set for an unaliased base relation or view, so `schema.table.column` finds it. */
  schema?: string;
  cols: Out[];
}

/** One FROM item: a relation, subquery, function, or a join of two items. */
export interface Item {
  entries: Entry[];
  /** What `*` expands to, in order. */
  star: Out[];
  /** Join columns merged by USING / NATURAL (found before the sides' own). */
  merged?: Map<string, Out>;
  /** The two sides of a join: unqualified names are looked up in both. */
  sides?: [Item, Item];
}

export interface Cte {
  outs: Out[];
}

export interface Scope {
  items: Item[];
  ctes: Map<string, Cte> | null;
  parent: Scope | null;
}

/** Per-statement state: the catalog, and what the statement reaches beyond single columns. */
export interface Ctx {
  catalog: CatalogLookup;
  /** Every column of every base relation the statement reads or writes. */
  reach: Set<string>;
  /** The statement calls a function (or reads a relation) whose contents Sluice cannot see. */
  opaque: boolean;
  /** False when the catalog did not know a name: the result is then not cached. */
  complete: boolean;
  /** Views being expanded (cycle guard) and their expansions. */
  views: string[];
  expanded: Map<string, Out[]>;
  /** Inside a view definition: unqualified names were resolved with an empty search_path. */
  inView: number;
}

export const ROOT: Scope = { items: [], ctes: null, parent: null };

export function child(parent: Scope, items: Item[] = []): Scope {
  return { items, ctes: null, parent };
}

export function findCte(scope: Scope | null, name: string): Cte | undefined {
  for (let s = scope; s; s = s.parent) {
    const cte = s.ctes?.get(name);
    if (cte) return cte;
  }
  return undefined;
}

/** Values named by an unqualified column name in one item (concrete hits, and spreads that might be it). */
function findIn(item: Item, name: string, hits: Lin[], spreads: Lin[]): void {
  const merged = item.merged?.get(name);
  if (merged) {
    hits.push(merged.lin);
    return;
  }
  if (item.sides) {
    findIn(item.sides[0], name, hits, spreads);
    findIn(item.sides[1], name, hits, spreads);
    return;
  }
  for (const entry of item.entries) findInCols(entry.cols, name, hits, spreads);
}

function findInCols(cols: Out[], name: string, hits: Lin[], spreads: Lin[]): void {
  for (const col of cols) {
    if (col.spread) spreads.push(col.lin);
    else if (col.name === name) hits.push(col.lin);
  }
}

function entriesNamed(scope: Scope, alias: string, schema?: string): Entry[] {
  const found: Entry[] = [];
  for (const item of scope.items)
    for (const entry of item.entries)
      if (entry.alias === alias && (schema === undefined || entry.schema === schema)) found.push(entry);
  return found;
}

/** The whole row of an entry, as one value (`row_to_json(u)`, `SELECT u`). */
export function wholeRow(entry: Entry): Lin {
  const acc = new Acc();
  for (const col of entry.cols) acc.add(col.lin);
  return acc.lin();
}

/**
 * A column reference's value. `fields` are the dotted names, without a trailing `*`.
 * Returns undefined when nothing in scope has that name (the caller decides what that means).
 */
export function resolveColumn(scope: Scope, fields: readonly string[]): Lin | undefined {
  const hits: Lin[] = [];
  const rows: Lin[] = [];
  // Spreads of inner levels may hold the name (they would win); those of the level that has it do not.
  const spreads: Lin[] = [];
  for (let s: Scope | null = scope; s; s = s.parent) {
    const levelSpreads: Lin[] = [];
    if (fields.length === 1) {
      const name = fields[0] as string;
      for (const item of s.items) findIn(item, name, hits, levelSpreads);
      // A bare relation name is its whole row, when no column has that name.
      for (const entry of entriesNamed(s, name)) rows.push(wholeRow(entry));
    } else {
      const column = fields[fields.length - 1] as string;
      const alias = fields[fields.length - 2] as string;
      const schema = fields.length >= 3 ? fields[fields.length - 3] : undefined;
      const entries = entriesNamed(s, alias, schema);
      for (const entry of entries) findInCols(entry.cols, column, hits, levelSpreads);
      // `a.b` may also be field b of a composite column a.
      if (entries.length === 0 && fields.length === 2)
        for (const item of s.items) findIn(item, alias, hits, levelSpreads);
    }
    // A name two FROM items of one level both had would be ambiguous (PostgreSQL refuses the
    // query), so a column found by name is not also in a spread; a whole-row match may be.
    if (hits.length > 0) break;
    for (const lin of levelSpreads) spreads.push(lin);
    if (rows.length > 0) break;
  }
  if (hits.length === 0 && rows.length === 0 && spreads.length === 0) return undefined;
  if (hits.length === 1 && spreads.length === 0) return hits[0];
  return unionLin([...hits, ...rows, ...spreads]);
}

/** The columns `alias.*` names (nearest level that has the alias), or undefined. */
export function starOf(scope: Scope, fields: readonly string[]): Out[] | undefined {
  const alias = fields[fields.length - 1] as string;
  const schema = fields.length >= 2 ? fields[fields.length - 2] : undefined;
  for (let s: Scope | null = scope; s; s = s.parent) {
    const found = entriesNamed(s, alias, schema);
    if (found.length === 1) return (found[0] as Entry).cols;
    if (found.length > 1) return [{ name: alias, lin: unionLin(found.map(wholeRow)), spread: true }];
  }
  return undefined;
}

/** `*`: every item's columns at this level, in FROM order. */
export function starAll(scope: Scope): Out[] {
  const outs: Out[] = [];
  for (const item of scope.items) for (const col of item.star) outs.push(col);
  return outs;
}

/** An unresolvable reference: unknown, and it may be anything the statement can read. */
export function unresolved(ctx: Ctx, what: string): Lin {
  ctx.opaque = true;
  return unknownLin(`${what} could not be resolved`);
}
