import { makeMetadata, type NewEvent, newEvent } from "../../src/events/index.ts";

/** A small valid event for store tests; `n` makes each one distinguishable. */
export function taskEvent(n: number, taskId = `t${n}`): NewEvent {
  return newEvent(
    "TaskDeclared",
    { taskId, intent: `intent ${n}`, agent: { subject: "agent-1" } },
    makeMetadata({ gatewayInstance: "test", taskId }),
  );
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Reads `count` items from a subscription, failing after `timeoutMs`. */
export async function take<T>(iterable: AsyncIterable<T>, count: number, timeoutMs = 10_000): Promise<T[]> {
  const items: T[] = [];
  if (count === 0) return items;
  const iterator = iterable[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (items.length < count) {
    const left = deadline - Date.now();
    const next = await Promise.race([
      iterator.next(),
      new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), Math.max(left, 0))),
    ]);
    if (next === "timeout") throw new Error(`timed out after ${items.length} of ${count} items`);
    if (next.done) break;
    items.push(next.value);
  }
  return items;
}

/** Polls `condition` every 20 ms until it holds, failing after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
