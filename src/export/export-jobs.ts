import { createHash, randomUUID } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SluiceError } from "../errors.ts";
import { type EventData, exportStream, type IdentityRef, makeMetadata, newEvent } from "../events/index.ts";
import { WrongExpectedRevisionError } from "../eventstore/conflict.ts";
import { foldStream } from "../eventstore/fold.ts";
import type { EventStore } from "../eventstore/port.ts";
import type { SigningKeyRef } from "../eventstore/signed.ts";
import { RETRY, type Scheduler } from "../jobs/scheduler.ts";
import { runExport } from "./export.ts";
import type { ExportFormat } from "./manifest.ts";

export const EXPORT_JOB = "export";

export type ExportStatus =
  | { status: "none" }
  | {
      status: "queued" | "done" | "failed";
      request: EventData<"ExportRequested">;
      completed?: EventData<"ExportCompleted">;
      error?: string;
    };

/**
 * Exports asked for through the API: each is an `export-<id>` stream (requested, then
 * completed or failed) and a scheduler job that writes `<dir>/<id>/` with runExport. A job run
 * twice finds the stream completed and does nothing; a crashed run starts its directory over.
 */
export class ExportJobs {
  constructor(
    private readonly options: {
      store: EventStore;
      scheduler: Scheduler;
      key: SigningKeyRef;
      gatewayInstance: string;
      /** Where export directories are written (`<dataDir>/exports`). */
      dir: string;
    },
  ) {
    options.scheduler.handle(EXPORT_JOB, async (job) => this.run(job.id, job.attempt));
  }

  async request(input: { format: ExportFormat; from?: Date; to?: Date; by: IdentityRef }): Promise<string> {
    const exportId = randomUUID();
    const data: EventData<"ExportRequested"> = {
      exportId,
      format: input.format,
      requestedBy: input.by,
      ...(input.from ? { from: input.from.toISOString() } : {}),
      ...(input.to ? { to: input.to.toISOString() } : {}),
    };
    const metadata = makeMetadata({ gatewayInstance: this.options.gatewayInstance, actor: input.by.subject });
    await this.options.store.append(exportStream(exportId), [newEvent("ExportRequested", data, metadata)], {
      expectedRevision: "no_stream",
    });
    await this.options.scheduler.schedule(EXPORT_JOB, exportId, new Date());
    return exportId;
  }

  async status(exportId: string): Promise<ExportStatus> {
    return (await this.load(exportId)).state;
  }

  /** The file of a finished export, checked against the hash recorded when it was written. */
  file(exportId: string, name: string, completed: EventData<"ExportCompleted">): Buffer {
    const listed =
      name === "manifest.json"
        ? { sha256: completed.manifestSha256 }
        : completed.files.find((f) => f.name === name);
    if (!listed || !/^[\w.-]+$/.test(name))
      throw new SluiceError("NOT_FOUND", `export ${exportId} has no file ${name}`);
    const content = readFileSync(join(this.options.dir, exportId, name));
    if (createHash("sha256").update(content).digest("hex") !== listed.sha256)
      throw new SluiceError("INTERNAL", `export ${exportId}: ${name} no longer matches its recorded hash`);
    return content;
  }

  private async run(exportId: string, attempt: number): Promise<void> {
    const { state, revision } = await this.load(exportId);
    if (state.status !== "queued") return;
    const outDir = join(this.options.dir, exportId);
    rmSync(outDir, { recursive: true, force: true }); // a crashed earlier attempt starts over
    let outcome: ReturnType<typeof newEvent>;
    const metadata = makeMetadata({ gatewayInstance: this.options.gatewayInstance, actor: "sluice" });
    try {
      const manifest = await runExport(this.options.store, {
        format: state.request.format,
        outDir,
        key: this.options.key,
        gatewayInstance: this.options.gatewayInstance,
        ...(state.request.from ? { from: new Date(state.request.from) } : {}),
        ...(state.request.to ? { to: new Date(state.request.to) } : {}),
      });
      const manifestSha256 = createHash("sha256")
        .update(readFileSync(join(outDir, "manifest.json")))
        .digest("hex");
      outcome = newEvent(
        "ExportCompleted",
        {
          exportId,
          manifestSha256,
          events: manifest.counts.events,
          files: manifest.files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })),
        },
        metadata,
      );
    } catch (error) {
      if (attempt < RETRY.attempts) throw error; // retried with backoff by the scheduler
      outcome = newEvent(
        "ExportFailed",
        { exportId, error: error instanceof Error ? error.message : String(error), attempts: attempt },
        metadata,
      );
    }
    try {
      await this.options.store.append(exportStream(exportId), [outcome], { expectedRevision: revision });
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error; // another instance finished it
    }
  }

  private load(exportId: string) {
    return foldStream<ExportStatus>(
      this.options.store,
      exportStream(exportId),
      { status: "none" },
      (state, event) => {
        if (event.type === "ExportRequested") return { status: "queued", request: event.data };
        if (state.status === "none") return state;
        if (event.type === "ExportCompleted") return { ...state, status: "done", completed: event.data };
        if (event.type === "ExportFailed") return { ...state, status: "failed", error: event.data.error };
        return state;
      },
    );
  }
}
