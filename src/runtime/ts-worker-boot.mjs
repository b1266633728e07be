// Worker entry that registers tsx inside the worker, then loads the TypeScript module named
// in workerData. (Node 20 does not carry the parent's --import loader hooks into workers.)
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.tsEntry);
