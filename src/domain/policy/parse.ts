import { parseYamlWithSource } from "../../config/yaml-schema.ts";
import { SluiceError } from "../../errors.ts";
import { type PolicyDocument, policyDocument } from "./document.ts";

/**
 * Reads policy files (YAML, one or more) into one document. Each file is validated on its
 * own so errors name the file, line and key; then the sections are merged and checked as a
 * whole: unique names, and every masking profile that is referred to exists.
 * Returns the merged plain JSON too: that, not the normalised form, is what gets published.
 */
export function parsePolicyFiles(files: { file: string; text: string }[]): {
  document: PolicyDocument;
  source: Record<string, unknown[] | unknown>;
} {
  if (files.length === 0) throw new SluiceError("CONFIG_INVALID", "no policy files given");
  const parsed = files.map(({ file, text }) => ({
    file,
    ...parseYamlWithSource(text, file, policyDocument),
  }));
  const document: PolicyDocument = { targets: [], access: [], rules: [], masking: [] };
  const source: Record<string, unknown[] | unknown> = {};
  const origin = new Map<object, { where: (typeof parsed)[number]["where"]; path: (string | number)[] }>();
  for (const { value, source: raw, where } of parsed) {
    for (const section of ["targets", "access", "rules", "masking"] as const) {
      value[section].forEach((item, i) => {
        origin.set(item, { where, path: [section, i] });
      });
      (document[section] as object[]).push(...value[section]);
      const items = (raw as Record<string, unknown[]>)[section] ?? [];
      source[section] = [...((source[section] as unknown[]) ?? []), ...items];
    }
    if (value.maskingSalt) {
      if (document.maskingSalt)
        throw new SluiceError("CONFIG_INVALID", `${where(["maskingSalt"])} maskingSalt is set twice`);
      document.maskingSalt = value.maskingSalt;
      source.maskingSalt = (raw as Record<string, unknown>).maskingSalt;
    }
  }
  const fail = (item: object, key: string, message: string): never => {
    const at = origin.get(item);
    throw new SluiceError(
      "CONFIG_INVALID",
      `${at?.where([...(at?.path ?? []), key]) ?? ""} ${message}`.trim(),
    );
  };

  for (const section of ["targets", "access", "rules", "masking"] as const) {
    const seen = new Set<string>();
    for (const item of document[section]) {
      if (seen.has(item.name)) fail(item, "name", `${section}: the name "${item.name}" is used twice`);
      seen.add(item.name);
    }
  }
  const profiles = new Set(document.masking.map((p) => p.name));
  const refers = [...document.targets, ...document.access, ...document.rules];
  for (const item of refers) {
    const masking = "masking" in item ? item.masking : undefined;
    if (masking && !profiles.has(masking)) fail(item, "masking", `unknown masking profile "${masking}"`);
  }
  for (const rule of document.rules) {
    const pattern = rule.match.ssh?.commandMatches;
    if (pattern) {
      try {
        new RegExp(pattern);
      } catch (error) {
        fail(
          rule,
          "match",
          `ssh.commandMatches is not a valid regular expression: ${(error as Error).message}`,
        );
      }
    }
  }
  return { document, source };
}
