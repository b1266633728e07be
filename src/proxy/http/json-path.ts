/**
 * The JSONPath subset masking profiles use (`jsonPaths`): `$`, `.name`, `.*`, `['name']`,
 * `[*]`, `[0]`, each optionally after `..` (at any depth below). Paths are matched while a JSON
 * body streams past, one key or index at a time: a match state is (rule, next segment), and
 * `..` keeps its state alive at every depth. The policy schema checks the same grammar.
 */

export interface Segment {
  /** Preceded by `..`: may match at any depth below the previous segment. */
  descend: boolean;
  /** A key name, an array index, or undefined for `*` (any key or index). */
  key?: string | number;
}

const SEGMENT =
  /\.\.?(?:([A-Za-z0-9_@$-]+)|(\*))|(\.\.)?\[(?:(\*)|(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/y;

export function compileJsonPath(path: string): Segment[] {
  if (!path.startsWith("$")) throw new RangeError(`a JSONPath starts with $: ${path}`);
  const segments: Segment[] = [];
  SEGMENT.lastIndex = 1;
  while (SEGMENT.lastIndex < path.length) {
    const at = SEGMENT.lastIndex;
    const m = SEGMENT.exec(path);
    if (!m) throw new RangeError(`not a JSONPath this gateway understands at ${at}: ${path}`);
    const [text, name, , bracketDescend, , index, single, double] = m;
    const descend = text.startsWith("..") || bracketDescend !== undefined;
    if (name !== undefined) segments.push({ descend, key: name });
    else if (index !== undefined) segments.push({ descend, key: Number(index) });
    else if (single !== undefined) segments.push({ descend, key: unquote(single) });
    else if (double !== undefined) segments.push({ descend, key: unquote(double) });
    else segments.push({ descend });
  }
  return segments;
}

function unquote(quoted: string): string {
  return quoted.replace(/\\(.)/g, "$1");
}

export interface PathMatcher<R> {
  rules: readonly { segments: Segment[]; rule: R }[];
}

/** Match states, each `rule * STRIDE + segment`; an empty array means nothing below can match. */
export type States = readonly number[];
export const NO_STATES: States = [];
const STRIDE = 1024;

/** States at a top-level value, and the first rule that is `$` alone (the whole value), or -1. */
export function root(rules: PathMatcher<unknown>["rules"]): { states: States; matched: number } {
  const states: number[] = [];
  let matched = -1;
  rules.forEach(({ segments }, i) => {
    if (segments.length > STRIDE) throw new RangeError("a JSONPath with more than 1024 segments");
    if (segments.length > 0) states.push(i * STRIDE);
    else if (matched === -1) matched = i;
  });
  return { states, matched };
}

/**
 * Steps from a container's states into its child at `key` (a property name or array index;
 * null when the name was too long to keep, which only `*` matches). Returns the child's states
 * and the first rule (in profile order) whose whole path ends at the child, or -1.
 */
export function step<R>(
  matcher: PathMatcher<R>,
  states: States,
  key: string | number | null,
): { states: States; matched: number } {
  if (states.length === 0) return { states: NO_STATES, matched: -1 };
  const next: number[] = [];
  let matched = -1;
  for (const state of states) {
    const ruleIndex = Math.floor(state / STRIDE);
    const position = state % STRIDE;
    const { segments } = matcher.rules[ruleIndex] as { segments: Segment[] };
    const segment = segments[position] as Segment;
    if (segment.descend && !next.includes(state)) next.push(state);
    if (segment.key !== undefined && segment.key !== key) continue;
    if (position + 1 === segments.length) {
      if (matched === -1 || ruleIndex < matched) matched = ruleIndex;
    } else if (!next.includes(state + 1)) next.push(state + 1);
  }
  return { states: next.length > 0 ? next : NO_STATES, matched };
}
