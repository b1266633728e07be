import type Database from "better-sqlite3";

/** Small helpers for the read models' filtered queries: a WHERE builder and a statement cache. */

export class Where {
  private readonly clauses: string[] = [];
  readonly args: unknown[] = [];

  /** Adds `clause` (with its `?` placeholders) when the first argument is given. */
  when(value: unknown, clause: string, ...args: unknown[]): this {
    if (value === undefined || value === null) return this;
    this.clauses.push(clause);
    this.args.push(...(args.length > 0 ? args : [value]));
    return this;
  }

  /** Adds `clause` (no placeholders) when `condition` holds. */
  if(condition: boolean | undefined, clause: string): this {
    if (condition) this.clauses.push(clause);
    return this;
  }

  /** `column IN (...)`; an empty list matches nothing. */
  in(values: readonly unknown[] | undefined, expression: (placeholders: string) => string): this {
    if (!values) return this;
    this.clauses.push(values.length === 0 ? "0" : expression(values.map(() => "?").join(", ")));
    this.args.push(...values);
    return this;
  }

  toString(): string {
    return this.clauses.length > 0 ? `WHERE ${this.clauses.join(" AND ")}` : "";
  }
}

/** Prepared statements by their SQL text: each filter combination is prepared once. */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  get(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      // Bounded: the shapes come from a fixed set of filters, but group lists vary in length.
      if (this.statements.size > 500) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
