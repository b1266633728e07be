import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  B,
  type BackendFrame,
  BackendFramer,
  decodeAuthentication,
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeCopyResponse,
  decodeDataRow,
  decodeFields,
  decodeNotification,
  decodeParameterStatus,
  decodeReadyForQuery,
  decodeRowDescription,
  encodeDataRow,
} from "../../src/proxy/postgres/codec/backend.ts";
import * as client from "../../src/proxy/postgres/codec/client-messages.ts";
import { PgProtocolError } from "../../src/proxy/postgres/codec/errors.ts";
import {
  decodeSaslInitialResponse,
  F,
  type FrontendMessage,
  FrontendReader,
  passwordText,
} from "../../src/proxy/postgres/codec/frontend.ts";

const RUNS = { numRuns: 300 };

/** Cuts `bytes` at the given points (taken modulo its length, so empty chunks occur too). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Runs `push` over the chunks; returns what came out, or the PgProtocolError. Anything else fails the property. */
function drain<T extends { raw: Buffer }>(
  push: (chunk: Buffer) => T[],
  pending: () => number,
  chunks: Buffer[],
): { out: T[]; error?: PgProtocolError } {
  const out: T[] = [];
  try {
    for (const chunk of chunks) out.push(...push(chunk));
  } catch (error) {
    if (!(error instanceof PgProtocolError)) throw error;
    return { out, error };
  }
  // Nothing lost, nothing invented: frames + held bytes are exactly the input.
  const input = Buffer.concat(chunks);
  const emitted = Buffer.concat(out.map((m) => m.raw));
  expect(emitted.length + pending()).toBe(input.length);
  expect(emitted).toEqual(input.subarray(0, emitted.length));
  return { out };
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const text = fc.string({ unit: "binary", maxLength: 16 }).map((s) => s.replaceAll("\0", ""));
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const format = fc.constantFrom(0, 1);

type Case = [Buffer, Record<string, unknown>];

const startupCase: fc.Arbitrary<Case> = fc
  .dictionary(
    // "__proto__" is no parameter name a client sends, and object spreads treat it specially.
    text.filter((k) => k !== "" && k.toLowerCase() !== "client_encoding" && k !== "__proto__"),
    text,
    { maxKeys: 4 },
  )
  .map((parameters) => [
    client.startupMessage(parameters),
    { type: "startup", protocolVersion: 196608, parameters: { ...parameters, client_encoding: "UTF8" } },
  ]);

const bindCase: fc.Arbitrary<Case> = fc
  .record({
    portal: text,
    statement: text,
    params: fc.array(fc.option(bytes(12), { nil: null }), { maxLength: 5 }),
    formatMode: fc.constantFrom("none", "one", "each"),
    resultFormats: fc.array(format, { maxLength: 4 }),
  })
  .chain(({ formatMode, params, ...rest }) =>
    fc.array(format, { minLength: params.length, maxLength: params.length }).map((each) => ({
      ...rest,
      params,
      paramFormats: formatMode === "none" ? [] : formatMode === "one" ? [1] : each,
    })),
  )
  .map((fields) => [client.bind(fields), { type: "bind", ...fields }]);

/** Any valid typed frontend message, with what it must decode to (minus raw). */
const typedCase: fc.Arbitrary<Case> = fc.oneof(
  text.map((t): Case => [client.query(t), { type: "query", text: t }]),
  fc
    .tuple(text, text, fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 4 }))
    .map(
      ([name, t, types]): Case => [
        client.parse(name, t, types),
        { type: "parse", name, text: t, paramTypes: types },
      ],
    ),
  bindCase,
  fc
    .tuple(fc.constantFrom<"S" | "P">("S", "P"), text, fc.boolean())
    .map(
      ([kind, name, isClose]): Case =>
        isClose
          ? [client.close(kind, name), { type: "close", kind, name }]
          : [client.describe(kind, name), { type: "describe", kind, name }],
    ),
  fc
    .tuple(text, int32)
    .map(
      ([portal, n]): Case => [
        client.execute(portal, n),
        { type: "execute", portal, maxRows: Math.max(n, 0) },
      ],
    ),
  fc.constantFrom<Case>(
    [client.sync(), { type: "sync" }],
    [client.flush(), { type: "flush" }],
    [client.copyDone(), { type: "copyDone" }],
    [client.terminate(), { type: "terminate" }],
  ),
  bytes(40).map((d): Case => [client.copyData(d), { type: "copyData", data: d }]),
  text.map((m): Case => [client.copyFail(m), { type: "copyFail", message: m }]),
  bytes(40).map((d): Case => [client.saslResponse(d), { type: "password", data: d }]),
);

const frontendCodes = Object.values(F);
const backendCodes = Object.values(B);
/** A frame with a valid type byte and length but an arbitrary body: reaches every body decoder. */
const framed = (codes: number[]) =>
  fc.tuple(fc.constantFrom(...codes), bytes(24)).map(([code, body]) => {
    const out = Buffer.alloc(5 + body.length);
    out[0] = code;
    out.writeInt32BE(body.length + 4, 1);
    body.copy(out, 5);
    return out;
  });

/** Overwrites a few bytes at random places. */
const mutated = (source: fc.Arbitrary<Buffer>) =>
  fc
    .tuple(
      source,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([b, edits]) => {
      const copy = Buffer.from(b);
      for (const [at, value] of edits) if (copy.length > 0) copy[at % copy.length] = value;
      return copy;
    });

const STARTUP = client.startupMessage({ user: "agent" });
const reading = (chunks: Buffer[], reader = new FrontendReader()) =>
  drain<FrontendMessage>(
    (c) => reader.push(c),
    () => reader.pending,
    chunks,
  );

describe("FrontendReader properties", () => {
  it("random bytes in random chunks decode or throw PgProtocolError, in startup and typed mode", () => {
    fc.assert(
      fc.property(bytes(200), cuts, fc.boolean(), (input, cut, typed) => {
        const reader = new FrontendReader();
        if (typed) reader.push(STARTUP);
        reading(chunked(input, cut), reader);
      }),
      RUNS,
    );
  });

  it("frames with valid headers and random bodies decode or throw PgProtocolError", () => {
    fc.assert(
      fc.property(fc.array(framed(frontendCodes), { maxLength: 8 }), cuts, (frames, cut) => {
        const reader = new FrontendReader();
        reader.push(STARTUP);
        const { out } = reading(chunked(Buffer.concat(frames), cut), reader);
        for (const m of out) {
          if (m.type !== "password") continue;
          for (const decode of [decodeSaslInitialResponse, passwordText]) {
            try {
              decode(m.data);
            } catch (error) {
              if (!(error instanceof PgProtocolError)) throw error;
            }
          }
        }
      }),
      RUNS,
    );
  });

  it("valid sessions with a few bytes overwritten decode or throw PgProtocolError", () => {
    const session = fc
      .tuple(startupCase, fc.array(typedCase, { maxLength: 10 }))
      .map(([s, rest]) => Buffer.concat([s[0], ...rest.map((c) => c[0])]));
    fc.assert(
      fc.property(mutated(session), cuts, (input, cut) => {
        reading(chunked(input, cut));
      }),
      RUNS,
    );
  });

  it("arbitrary valid message sequences survive arbitrary chunking", () => {
    fc.assert(
      fc.property(startupCase, fc.array(typedCase, { maxLength: 12 }), cuts, (startup, typed, cut) => {
        const cases = [startup, ...typed];
        const input = Buffer.concat(cases.map((c) => c[0]));
        const { out, error } = reading(chunked(input, cut));
        expect(error).toBeUndefined();
        expect(out).toEqual(cases.map(([raw, message]) => ({ ...message, raw })));
      }),
      RUNS,
    );
  });
});

const backendDecoders: Record<number, (raw: Buffer) => unknown> = {
  [B.Authentication]: decodeAuthentication,
  [B.BackendKeyData]: decodeBackendKeyData,
  [B.CommandComplete]: decodeCommandComplete,
  [B.CopyInResponse]: decodeCopyResponse,
  [B.CopyOutResponse]: decodeCopyResponse,
  [B.CopyBothResponse]: decodeCopyResponse,
  [B.DataRow]: decodeDataRow,
  [B.ErrorResponse]: decodeFields,
  [B.NoticeResponse]: decodeFields,
  [B.NotificationResponse]: decodeNotification,
  [B.ParameterStatus]: decodeParameterStatus,
  [B.ReadyForQuery]: decodeReadyForQuery,
  [B.RowDescription]: decodeRowDescription,
};

const framing = (chunks: Buffer[], framer = new BackendFramer()) =>
  drain<BackendFrame>(
    (c) => framer.push(c),
    () => framer.pending,
    chunks,
  );

describe("BackendFramer properties", () => {
  it("random bytes in random chunks frame or throw PgProtocolError", () => {
    fc.assert(
      fc.property(bytes(200), cuts, (input, cut) => {
        framing(chunked(input, cut));
      }),
      RUNS,
    );
  });

  it("valid frames survive arbitrary chunking, and every decoder returns or throws PgProtocolError", () => {
    fc.assert(
      fc.property(fc.array(framed(backendCodes), { maxLength: 10 }), cuts, (frames, cut) => {
        const { out, error } = framing(chunked(Buffer.concat(frames), cut));
        expect(error).toBeUndefined();
        expect(out).toEqual(frames.map((raw) => ({ code: raw[0], raw })));
        for (const { code, raw } of out) {
          try {
            backendDecoders[code]?.(raw);
          } catch (e) {
            if (!(e instanceof PgProtocolError)) throw e;
          }
        }
      }),
      RUNS,
    );
  });

  it("DataRows round-trip through encode, arbitrary chunking and decode", () => {
    const row = fc.array(fc.option(fc.oneof(bytes(20), text), { nil: null }), { maxLength: 6 });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 6 }), cuts, (rows, cut) => {
        const { out } = framing(chunked(Buffer.concat(rows.map(encodeDataRow)), cut));
        expect(out.map((f) => decodeDataRow(f.raw))).toEqual(
          rows.map((r) => r.map((v) => (typeof v === "string" ? Buffer.from(v) : v))),
        );
      }),
      RUNS,
    );
  });
});
