import { resolve } from "node:path";
import cliProgress from "cli-progress";
import { loadConfig } from "../config/load.ts";
import { SluiceError } from "../errors.ts";
import { openStore } from "../eventstore/open.ts";
import { runExport } from "../export/export.ts";
import { EXPORT_FORMATS, type ExportFormat } from "../export/manifest.ts";
import { loadOrCreateSigningKey } from "../identity/signing-key.ts";

/**
 * `sluice export --from T --to T [--format jsonl|csv|ocsf] [--out DIR] [--seal]`: writes the
 * range to DIR with a manifest signed by the gateway's key; a progress bar when stderr is a terminal.
 */
export async function exportCommand(options: {
  config?: string;
  from?: string;
  to?: string;
  format?: string;
  out?: string;
  seal?: boolean;
}): Promise<number> {
  const format = (options.format ?? "jsonl") as ExportFormat;
  if (!EXPORT_FORMATS.includes(format))
    throw new SluiceError(
      "CONFIG_INVALID",
      `--format must be one of ${EXPORT_FORMATS.join(", ")}, not ${format}`,
    );
  const from = parseTime(options.from, "--from");
  const to = parseTime(options.to, "--to");
  if (from && to && from >= to) throw new SluiceError("CONFIG_INVALID", "--from must be before --to");
  const config = loadConfig({ file: options.config });
  const outDir = resolve(options.out ?? `sluice-export-${format}-${stamp(new Date())}`);
  const key = await loadOrCreateSigningKey(config.ledger.signingKeyFile as string);
  const store = await openStore(config.store);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: "exporting [{bar}] {value}/{total} events  {eta_formatted} left" },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  try {
    const manifest = await runExport(store, {
      format,
      outDir,
      key,
      gatewayInstance: config.instanceId,
      from,
      to,
      seal: options.seal,
      onProgress: bar
        ? (done, total) => {
            if (!bar.isActive) bar.start(total, 0);
            bar.setTotal(Math.max(total, done));
            bar.update(done);
          }
        : undefined,
    });
    bar?.stop();
    const file = manifest.files[0];
    const sealed = manifest.seals.count;
    process.stdout.write(
      `exported ${manifest.counts.events} events (positions ${manifest.range.afterPosition}..${manifest.range.toPosition}) as ${manifest.counts.records} ${format} records to ${outDir}\n` +
        `  ${file?.name}: ${file?.bytes} bytes, sha256 ${file?.sha256}\n` +
        `  manifest.json signed by key ${manifest.keyId}; ${sealed} seal${sealed === 1 ? "" : "s"} cover the range` +
        (manifest.coverage.unsealedEvents > 0
          ? `; ${manifest.coverage.unsealedEvents} events after the last seal (--seal seals them first)\n`
          : "\n") +
        (manifest.removed.length > 0
          ? `  ${manifest.removed.length} earlier range(s) were removed by retention; their archives are named in the manifest\n`
          : ""),
    );
    return 0;
  } finally {
    bar?.stop();
    await store.close();
  }
}

function parseTime(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time))
    throw new SluiceError("CONFIG_INVALID", `${flag} must be an ISO 8601 date or time, not ${value}`);
  return new Date(time);
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}
