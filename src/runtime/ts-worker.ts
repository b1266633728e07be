import { Worker, type WorkerOptions } from "node:worker_threads";

/** Starts a worker thread running a TypeScript module (Sluice runs from source through tsx). */
export function startTsWorker(entry: URL, options: WorkerOptions & { workerData?: object } = {}): Worker {
  const boot = new URL("./ts-worker-boot.mjs", import.meta.url);
  return new Worker(boot, { ...options, workerData: { ...options.workerData, tsEntry: entry.href } });
}
