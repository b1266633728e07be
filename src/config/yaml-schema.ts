import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { SluiceError } from "../errors.ts";

/**
 * Parses a YAML document and validates it with a schema; every error names the file, the
 * line and column, and the key path, e.g. `sluice.yaml:7:5 store.kind: Invalid option`.
 */
export function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  return parseYamlWithSource(text, file, schema).value;
}

/** As parseYaml, also returning the plain JSON read from the file and a locator for later checks. */
export function parseYamlWithSource<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
): { value: z.output<S>; source: unknown; where: (path: (string | number)[]) => string } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    const first = document.errors[0] as (typeof document.errors)[number];
    const { line, col } = lineCounter.linePos(first.pos[0]);
    throw new SluiceError("CONFIG_INVALID", `${file}:${line}:${col}: ${first.message.split("\n")[0]}`, {
      file,
    });
  }
  const source = document.toJS() ?? {};
  const result = schema.safeParse(source);
  const where = (path: (string | number)[]) => `${file}${locate(document, lineCounter, path)}`;
  if (result.success) return { value: result.data, source, where };
  const messages = result.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map(String);
    // An unknown key is best shown where it stands, not where its parent map starts.
    const target = issue.code === "unrecognized_keys" ? [...issue.path, issue.keys[0] ?? ""] : issue.path;
    const where = locate(document, lineCounter, target as (string | number)[]);
    return `${file}${where} ${path.join(".") || "(document)"}: ${issue.message}`;
  });
  throw new SluiceError("CONFIG_INVALID", messages.join("\n"), { file });
}

export function parseYamlFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new SluiceError("CONFIG_INVALID", `cannot read ${file}: ${(error as Error).message}`, { file });
  }
  return parseYaml(text, file, schema);
}

/** The position of the deepest node of `path` that exists (a missing key points at its parent). */
function locate(
  document: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  path: (string | number)[],
): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = document.getIn(path.slice(0, depth), true) as
      | { range?: [number, number, number] }
      | undefined;
    if (node?.range) {
      const { line, col } = lines.linePos(node.range[0]);
      return `:${line}:${col}`;
    }
  }
  return "";
}
