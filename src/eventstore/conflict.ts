import { SluiceError } from "../errors.ts";
import type { ExpectedRevision } from "./port.ts";

/** The typed optimistic-concurrency conflict every adapter throws. */
export class WrongExpectedRevisionError extends SluiceError {
  readonly stream: string;
  readonly expected: ExpectedRevision;
  /** The stream's last revision, or "no_stream". */
  readonly actual: bigint | "no_stream";

  constructor(stream: string, expected: ExpectedRevision, actual: bigint | "no_stream") {
    super(
      "WRONG_EXPECTED_REVISION",
      `append to "${stream}" expected ${String(expected)} but the stream is at ${String(actual)}`,
      { stream, expected: String(expected), actual: String(actual) },
    );
    this.name = "WrongExpectedRevisionError";
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Null when `expected` holds for a stream whose last revision is `actual`. */
export function checkExpectedRevision(
  stream: string,
  expected: ExpectedRevision,
  actual: bigint | "no_stream",
): WrongExpectedRevisionError | null {
  const holds =
    expected === "any" ||
    (expected === "no_stream" && actual === "no_stream") ||
    (expected === "stream_exists" && actual !== "no_stream") ||
    (typeof expected === "bigint" && actual === expected);
  return holds ? null : new WrongExpectedRevisionError(stream, expected, actual);
}

/** Rebuilds the typed error from its serialised details (it crosses a worker boundary). */
export function reviveConflict(details: Record<string, unknown>): WrongExpectedRevisionError {
  const parse = (value: unknown) =>
    typeof value === "string" && /^\d+$/.test(value) ? BigInt(value) : value;
  return new WrongExpectedRevisionError(
    String(details.stream),
    parse(details.expected) as ExpectedRevision,
    parse(details.actual) as bigint | "no_stream",
  );
}
