/**
 * The lineage of one value while a statement is walked: the base columns it may carry, whether
 * it is exactly one of them unchanged, and why it is unknown when it is. Values are immutable;
 * `Acc` gathers many of them without allocating a set per node.
 */

export interface Lin {
  /** "schema.table.column" of base relations (views already expanded). */
  readonly sources: ReadonlySet<string>;
  /** Exactly one source column, unchanged. */
  readonly direct: boolean;
  /** Set when lineage could not be established; `sources` then holds what is known anyway. */
  readonly unknown?: string;
}

const NONE: ReadonlySet<string> = new Set();

export const CONSTANT: Lin = Object.freeze({ sources: NONE, direct: false });

export function baseColumn(source: string): Lin {
  return { sources: new Set([source]), direct: true };
}

export function unknownLin(reason: string, sources: ReadonlySet<string> = NONE): Lin {
  return { sources, direct: false, unknown: reason };
}

/** A value computed from others: their sources, never direct. */
export class Acc {
  private sources: Set<string> | undefined;
  private first: ReadonlySet<string> | undefined;
  unknown: string | undefined;

  add(lin: Lin): void {
    if (lin.unknown !== undefined && this.unknown === undefined) this.unknown = lin.unknown;
    if (lin.sources.size === 0) return;
    if (this.sources) for (const s of lin.sources) this.sources.add(s);
    else if (this.first === undefined || this.first === lin.sources) this.first = lin.sources;
    else this.sources = new Set([...this.first, ...lin.sources]);
  }

  markUnknown(reason: string): void {
    this.unknown ??= reason;
  }

  lin(): Lin {
    const sources = this.sources ?? this.first ?? NONE;
    if (this.unknown !== undefined) return { sources, direct: false, unknown: this.unknown };
    return sources.size === 0 ? CONSTANT : { sources, direct: false };
  }
}

/** The union of several values: sources merged, never direct (unless there is only one). */
export function unionLin(lins: readonly Lin[]): Lin {
  if (lins.length === 1) return lins[0] as Lin;
  const acc = new Acc();
  for (const lin of lins) acc.add(lin);
  return acc.lin();
}

export function indirect(lin: Lin): Lin {
  return lin.direct ? { sources: lin.sources, direct: false } : lin;
}

/** Whether `b` adds nothing to `a` (for fixpoints). */
export function covers(a: Lin, b: Lin): boolean {
  if (b.unknown !== undefined && a.unknown === undefined) return false;
  for (const s of b.sources) if (!a.sources.has(s)) return false;
  return true;
}
