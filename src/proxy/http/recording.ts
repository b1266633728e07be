import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { SluiceError } from "../../errors.ts";
import { type BodyKind, type MaskerLimits, maskCaptured } from "./body-masking.ts";
import type { MaskingRules } from "./masking-rules.ts";

/**
 * What the log keeps of one exchange (CommandCompleted.output): request and response headers
 * without credentials or cookies, and both bodies masked with the record's rules, cut to a
 * size limit with the cut counted. Bodies are captured raw a little past the limit (by the
 * longest secret the detectors look for), masked, then cut, so a secret straddling the cut is
 * still recognised and never half-recorded.
 */

/** Passes a body through, counting it and keeping its first `keep` bytes; errors past `max` bytes. */
export class BodyCapture extends Transform {
  total = 0;
  readonly #parts: Buffer[] = [];
  #kept = 0;

  constructor(
    private readonly keep: number,
    private readonly max = Number.POSITIVE_INFINITY,
    /** Called at every chunk (the exchange's idle timer). */
    private readonly onChunk?: () => void,
  ) {
    super();
  }

  captured(): Buffer {
    return Buffer.concat(this.#parts);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    this.onChunk?.();
    if (this.total > this.max) {
      callback(new BodyTooLarge(this.max));
      return;
    }
    if (this.#kept < this.keep) {
      const part = chunk.subarray(0, this.keep - this.#kept);
      this.#parts.push(Buffer.from(part));
      this.#kept += part.length;
    }
    callback(null, chunk);
  }
}

export class BodyTooLarge extends SluiceError {
  constructor(limit: number) {
    super("FORBIDDEN", `the request body is larger than ${limit} bytes`);
  }
}

const SECRET_HEADER = /authorization|cookie|token|secret|password|api-?key|credential|session/i;

/** Headers fit for the log: no Authorization, cookies, or anything named like a credential. */
export function recordedHeaders(headers: IncomingHttpHeaders | OutgoingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SECRET_HEADER.test(name)) continue;
    kept[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return kept;
}

export interface RecordedBody {
  capture: BodyCapture | null;
  kind: BodyKind;
}

export interface RecordInput {
  request: { headers: Record<string, string>; body: RecordedBody };
  response?: { status: number; headers: Record<string, string>; body: RecordedBody | null };
  rules: MaskingRules;
  limits: MaskerLimits;
  limit: number;
  /** Applied last: removes the upstream credential from what is recorded. */
  scrub: (text: string) => string;
}

export function recordedOutput(input: RecordInput): {
  output: string;
  truncated?: { bytes: number; rows: number };
} {
  let cut = 0;
  const body = (recorded: RecordedBody | null | undefined) => {
    const capture = recorded?.capture;
    if (!recorded || !capture || capture.total === 0) return undefined;
    const masked = maskCaptured(capture.captured(), recorded.kind, input.rules, input.limits);
    if (masked === null) {
      cut += capture.total;
      return "«not recorded: it could not be masked»";
    }
    const bytes = Buffer.from(input.scrub(masked), "utf8");
    const kept = bytes.subarray(0, input.limit);
    // What was cut: of the upstream's bytes, everything the kept part does not stand for.
    cut += Math.max(0, capture.total - Math.min(capture.total, kept.length));
    return kept.toString("utf8");
  };
  const record = {
    request: { headers: input.request.headers, body: body(input.request.body) },
    ...(input.response
      ? {
          response: {
            status: input.response.status,
            headers: input.response.headers,
            body: body(input.response.body),
          },
        }
      : {}),
  };
  return { output: JSON.stringify(record), ...(cut > 0 ? { truncated: { bytes: cut, rows: 0 } } : {}) };
}
