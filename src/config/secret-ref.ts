import { readFileSync } from "node:fs";
import { z } from "zod";
import { SluiceError } from "../errors.ts";

/** Secrets are referenced, never written into config: `{ env: NAME }` or `{ file: PATH }`. */
export const secretRef = z.union([
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof secretRef>;

export function resolveSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if ("env" in ref) {
    const value = env[ref.env];
    if (!value)
      throw new SluiceError("CONFIG_INVALID", `${what}: environment variable ${ref.env} is not set`);
    return value;
  }
  try {
    return readFileSync(ref.file, "utf8").trim();
  } catch (error) {
    throw new SluiceError("CONFIG_INVALID", `${what}: cannot read ${ref.file}: ${(error as Error).message}`);
  }
}
