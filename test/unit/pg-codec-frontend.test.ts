import { serialize } from "pg-protocol";
import { describe, expect, it } from "vitest";
import * as client from "../../src/proxy/postgres/codec/client-messages.ts";
import { PgProtocolError } from "../../src/proxy/postgres/codec/errors.ts";
import {
  decodeSaslInitialResponse,
  type FrontendMessage,
  FrontendReader,
  passwordText,
} from "../../src/proxy/postgres/codec/frontend.ts";

// Byte builders for hand-made (often malformed) frames.
const cstr = (s: string) => Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0])]);
const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const frame = (type: string, ...body: Buffer[]) => {
  const payload = Buffer.concat(body);
  return Buffer.concat([Buffer.from(type, "latin1"), i32(payload.length + 4), payload]);
};
const untyped = (...body: Buffer[]) => {
  const payload = Buffer.concat(body);
  return Buffer.concat([i32(payload.length + 4), payload]);
};

const STARTUP = client.startupMessage({ user: "agent", database: "orders" });

/** Every message of `chunks`, pushed in order into one reader. */
function decode(chunks: Buffer[], reader = new FrontendReader()): FrontendMessage[] {
  const out: FrontendMessage[] = [];
  for (const chunk of chunks) out.push(...reader.push(chunk));
  expect(reader.pending).toBe(0);
  return out;
}

/** Whole, split at every offset, and byte by byte: identical messages and identical raw bytes. */
function expectSameUnderAnyChunking(bytes: Buffer, expected: Record<string, unknown>[]): void {
  const whole = decode([bytes]);
  expect(whole).toEqual(expected);
  expect(Buffer.concat(whole.map((m) => m.raw))).toEqual(bytes);
  for (let at = 1; at < bytes.length; at++) {
    expect(decode([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(expected);
  }
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  expect(decode(single)).toEqual(expected);
}

function expectProtocolError(run: () => unknown, sqlstate: string, message: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PgProtocolError);
    expect((error as PgProtocolError).sqlstate).toBe(sqlstate);
    expect((error as PgProtocolError).message).toMatch(message);
    return;
  }
  throw new Error("expected a PgProtocolError");
}

/** Pushes a valid StartupMessage first, so `bytes` is read as typed frames. */
function afterStartup(bytes: Buffer, reader = new FrontendReader()): FrontendMessage[] {
  reader.push(STARTUP);
  return reader.push(bytes);
}

const functionCallBody = Buffer.concat([i32(1598), i16(0), i16(1), i32(2), Buffer.from("42"), i16(0)]);
const SESSION: [Buffer, Record<string, unknown>][] = [
  [
    client.startupMessage({
      user: "agent",
      database: "orders",
      application_name: "psql",
      client_encoding: "SJIS",
    }),
    {
      type: "startup",
      protocolVersion: 196608,
      parameters: { user: "agent", database: "orders", application_name: "psql", client_encoding: "UTF8" },
    },
  ],
  [client.passwordMessage("sluice-token"), { type: "password", data: cstr("sluice-token") }],
  [
    client.saslInitialResponse("SCRAM-SHA-256", "n,,n=,r=abc"),
    { type: "password", data: Buffer.concat([cstr("SCRAM-SHA-256"), i32(11), Buffer.from("n,,n=,r=abc")]) },
  ],
  [
    client.saslResponse(Buffer.from("c=biws,r=abc,p=xyz")),
    { type: "password", data: Buffer.from("c=biws,r=abc,p=xyz") },
  ],
  [client.query("SELECT 1; SELECT 'é€😀'"), { type: "query", text: "SELECT 1; SELECT 'é€😀'" }],
  [client.query(""), { type: "query", text: "" }],
  [
    client.parse("s1", "SELECT $1::int, $2", [23, 3000000001]),
    { type: "parse", name: "s1", text: "SELECT $1::int, $2", paramTypes: [23, 3000000001] },
  ],
  [serialize.parse({ text: "SELECT 1" }), { type: "parse", name: "", text: "SELECT 1", paramTypes: [] }],
  [
    client.bind({
      portal: "p1",
      statement: "s1",
      paramFormats: [0, 1],
      params: [Buffer.from("42"), null],
      resultFormats: [1],
    }),
    {
      type: "bind",
      portal: "p1",
      statement: "s1",
      paramFormats: [0, 1],
      params: [Buffer.from("42"), null],
      resultFormats: [1],
    },
  ],
  [
    serialize.bind({ values: ["a", Buffer.from([1, 2]), null, ""] }),
    {
      type: "bind",
      portal: "",
      statement: "",
      paramFormats: [0, 1, 0, 0],
      params: [Buffer.from("a"), Buffer.from([1, 2]), null, Buffer.alloc(0)],
      resultFormats: [0],
    },
  ],
  [client.describe("S", "s1"), { type: "describe", kind: "S", name: "s1" }],
  [client.describe("P"), { type: "describe", kind: "P", name: "" }],
  [client.execute("p1", 10), { type: "execute", portal: "p1", maxRows: 10 }],
  [client.execute(), { type: "execute", portal: "", maxRows: 0 }],
  [client.close("S", "s1"), { type: "close", kind: "S", name: "s1" }],
  [client.close("P"), { type: "close", kind: "P", name: "" }],
  [client.flush(), { type: "flush" }],
  [client.sync(), { type: "sync" }],
  [client.copyData(Buffer.from("1\tada\n")), { type: "copyData", data: Buffer.from("1\tada\n") }],
  [client.copyDone(), { type: "copyDone" }],
  [client.copyFail("client gave up"), { type: "copyFail", message: "client gave up" }],
  [frame("F", functionCallBody), { type: "functionCall" }],
  [client.terminate(), { type: "terminate" }],
];

describe("FrontendReader: every message type", () => {
  const bytes = Buffer.concat(SESSION.map(([b]) => b));
  const expected = SESSION.map(([raw, message]) => ({ ...message, raw }));

  it("decodes a whole session identically under every chunking", () => {
    expect(bytes.length).toBeGreaterThan(300);
    expectSameUnderAnyChunking(bytes, expected);
  });

  it("returns views of the pushed chunk when a frame lies wholly inside it (no copy)", () => {
    const chunk = Buffer.alloc(bytes.length);
    bytes.copy(chunk);
    const messages = new FrontendReader().push(chunk);
    for (const m of messages) {
      expect(m.raw.buffer).toBe(chunk.buffer);
      expect(m.raw.byteOffset).toBeGreaterThanOrEqual(chunk.byteOffset);
      expect(m.raw.byteOffset + m.raw.length).toBeLessThanOrEqual(chunk.byteOffset + chunk.length);
    }
  });

  it("reports pending bytes of an incomplete frame", () => {
    const reader = new FrontendReader();
    reader.push(STARTUP);
    const q = client.query("SELECT 42");
    expect(reader.push(q.subarray(0, 3))).toEqual([]);
    expect(reader.pending).toBe(3);
    expect(reader.push(q.subarray(3, 9))).toEqual([]);
    expect(reader.pending).toBe(9);
    expect(reader.push(q.subarray(9))).toEqual([{ type: "query", text: "SELECT 42", raw: q }]);
    expect(reader.pending).toBe(0);
  });

  it("re-encodes a decoded Bind to the same bytes", () => {
    const raw = client.bind({
      portal: "",
      statement: "s9",
      paramFormats: [1],
      params: [Buffer.from([0, 0, 0, 7]), null, Buffer.from("x")],
      resultFormats: [0, 1, 1],
    });
    const [bind] = afterStartup(raw);
    if (bind?.type !== "bind") throw new Error("expected bind");
    expect(client.bind(bind)).toEqual(raw);
  });
});

describe("FrontendReader: startup phase", () => {
  it("reads SSLRequest and stays in startup mode for the next frame", () => {
    const reader = new FrontendReader();
    expect(reader.push(client.sslRequest())).toEqual([{ type: "sslRequest", raw: client.sslRequest() }]);
    expect(reader.inStartup).toBe(true);
    const [startup] = reader.push(STARTUP);
    expect(startup?.type).toBe("startup");
    expect(reader.inStartup).toBe(false);
  });

  it("reads GSSENCRequest, then SSLRequest, then a StartupMessage, each split at every offset", () => {
    for (const request of [client.gssEncRequest(), client.sslRequest()]) {
      for (let at = 1; at < request.length; at++) {
        const reader = new FrontendReader();
        expect(reader.push(request.subarray(0, at))).toEqual([]);
        const [message] = reader.push(request.subarray(at));
        expect(message?.raw).toEqual(request);
        expect(message?.type).toBe(request.readInt32BE(4) === 80877104 ? "gssEncRequest" : "sslRequest");
      }
    }
    const reader = new FrontendReader();
    expect(reader.push(client.gssEncRequest())[0]?.type).toBe("gssEncRequest");
    expect(reader.push(client.sslRequest())[0]?.type).toBe("sslRequest");
    expect(reader.push(STARTUP)[0]?.type).toBe("startup");
  });

  it("refuses bytes pipelined behind an SSLRequest or GSSENCRequest in the same push", () => {
    expectProtocolError(
      () => new FrontendReader().push(Buffer.concat([client.sslRequest(), STARTUP])),
      "08P01",
      /unencrypted data after SSL request/,
    );
    expectProtocolError(
      () => new FrontendReader().push(Buffer.concat([client.gssEncRequest(), Buffer.from([0])])),
      "08P01",
      /unencrypted data after GSSAPI encryption request/,
    );
  });

  it("decodes CancelRequest under every chunking", () => {
    const raw = client.cancelRequest(4242, -123456789);
    expectSameUnderAnyChunking(raw, [{ type: "cancelRequest", processId: 4242, secretKey: -123456789, raw }]);
  });

  it("keeps client-chosen parameter names as plain keys", () => {
    const raw = untyped(i32(196608), cstr("__proto__"), cstr("x"), cstr("user"), cstr("a"), cstr(""));
    const [m] = new FrontendReader().push(raw);
    if (m?.type !== "startup") throw new Error("expected startup");
    expect(Object.getPrototypeOf(m.parameters)).toBeNull();
    expect(Object.getOwnPropertyDescriptor(m.parameters, "__proto__")?.value).toBe("x");
    expect(Object.keys(m.parameters)).toEqual(["__proto__", "user"]);
  });

  it("refuses protocol 2.0 and 3.x other than 3.0 with 0A000", () => {
    expectProtocolError(
      () => new FrontendReader().push(untyped(i32(2 << 16), Buffer.alloc(64))),
      "0A000",
      /unsupported frontend protocol 2\.0: Sluice supports protocol 3\.0/,
    );
    expectProtocolError(
      () => new FrontendReader().push(untyped(i32((3 << 16) | 2), cstr("user"), cstr("a"), cstr(""))),
      "0A000",
      /unsupported frontend protocol 3\.2/,
    );
  });
});

describe("FrontendReader: malformed input", () => {
  const startupCases: [string, Buffer, RegExp][] = [
    ["length below 8", Buffer.from([0, 0, 0, 4, 0, 3, 0, 0]), /invalid length of startup packet: 4/],
    ["negative length", i32(-8), /invalid length of startup packet: -8/],
    ["startup packet over 10000 bytes", i32(10_001), /invalid length of startup packet: 10001/],
    ["a typed frame before startup", client.query("SELECT 1"), /invalid length of startup packet/],
    ["SSLRequest of 12 bytes", untyped(i32(80877103), i32(0)), /malformed SSLRequest: length 12/],
    ["GSSENCRequest of 12 bytes", untyped(i32(80877104), i32(0)), /malformed GSSENCRequest/],
    ["CancelRequest of 12 bytes", untyped(i32(80877102), i32(1)), /malformed CancelRequest: length 12/],
    ["missing terminator", untyped(i32(196608), Buffer.from("user")), /missing string terminator/],
    ["name without value", untyped(i32(196608), cstr("user")), /missing string terminator/],
    ["no final empty name", untyped(i32(196608), cstr("user"), cstr("a")), /missing string terminator/],
    ["bytes after the terminator", untyped(i32(196608), cstr(""), Buffer.from("x")), /1 unexpected trailing/],
  ];
  for (const [name, bytes, message] of startupCases) {
    it(`startup phase: ${name} → 08P01`, () => {
      expectProtocolError(() => new FrontendReader().push(bytes), "08P01", message);
    });
  }

  const typedCases: [string, Buffer, RegExp][] = [
    ["unknown type byte", frame("q", cstr("x")), /invalid frontend message type 0x71 \('q'\)/],
    ["a second StartupMessage", STARTUP, /invalid frontend message type 0x00/],
    ["length below 4", Buffer.from([0x51, 0, 0, 0, 3]), /invalid length 3 in frontend message 0x51/],
    ["negative length", Buffer.from([0x51, 0xff, 0xff, 0xff, 0xfe]), /invalid length -2/],
    [
      "Query without terminator",
      frame("Q", Buffer.from("SELECT 1")),
      /Query message: missing string terminator/,
    ],
    [
      "Query with trailing bytes",
      frame("Q", cstr("SELECT 1"), Buffer.from("x")),
      /Query message: 1 unexpected/,
    ],
    [
      "Parse count past the end",
      frame("P", cstr(""), cstr("SELECT $1"), i16(3), i32(23)),
      /3 parameter types/,
    ],
    [
      "Parse with trailing bytes",
      frame("P", cstr(""), cstr("SELECT 1"), i16(0), i16(0)),
      /2 unexpected trailing/,
    ],
    ["Bind truncated", frame("B", cstr(""), cstr("")), /Bind message: unexpected end/],
    [
      "Bind parameter length -2",
      frame("B", cstr(""), cstr(""), i16(0), i16(1), i32(-2), i16(0)),
      /parameter 1 has invalid length -2/,
    ],
    [
      "Bind parameter longer than the message",
      frame("B", cstr(""), cstr(""), i16(0), i16(1), i32(100), Buffer.from("ab"), i16(0)),
      /Bind message: unexpected end/,
    ],
    [
      "Bind format count mismatch",
      frame("B", cstr(""), cstr(""), i16(2), i16(0), i16(0), i16(3), i32(-1), i32(-1), i32(-1), i16(0)),
      /2 parameter formats but 3 parameters/,
    ],
    [
      "Bind format code 2",
      frame("B", cstr(""), cstr(""), i16(0), i16(0), i16(1), i16(2)),
      /unsupported result format code 2/,
    ],
    [
      "Bind result formats past the end",
      frame("B", cstr(""), cstr(""), i16(0), i16(0), i16(9)),
      /9 result format/,
    ],
    ["Describe subtype X", frame("D", Buffer.from("X"), cstr("")), /Describe message: invalid subtype 88/],
    ["Close without name", frame("C", Buffer.from("S")), /Close message: missing string terminator/],
    ["Execute truncated", frame("E", cstr(""), i16(0)), /Execute message: unexpected end/],
    ["Sync with a body", frame("S", Buffer.from([0])), /Sync message: 1 unexpected trailing/],
    ["Terminate with a body", frame("X", i32(0)), /Terminate message: 4 unexpected trailing/],
    [
      "CopyFail without terminator",
      frame("f", Buffer.from("no")),
      /CopyFail message: missing string terminator/,
    ],
  ];
  for (const [name, bytes, message] of typedCases) {
    it(`typed: ${name} → 08P01`, () => {
      expectProtocolError(() => afterStartup(bytes), "08P01", message);
    });
  }

  it("refuses invalid UTF-8 in query text with 22021 instead of replacing it", () => {
    const bad = frame("Q", Buffer.from([0x53, 0x45, 0xc3, 0x28, 0x00]));
    expectProtocolError(
      () => afterStartup(bad),
      "22021",
      /invalid byte sequence for encoding "UTF8" in Query/,
    );
    const overlong = frame("P", cstr(""), Buffer.from([0xc0, 0xaf, 0x00]), i16(0));
    expectProtocolError(() => afterStartup(overlong), "22021", /Parse/);
  });

  it("stays failed: every later push throws the same error", () => {
    const reader = new FrontendReader();
    reader.push(STARTUP);
    let first: unknown;
    try {
      reader.push(frame("q"));
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(PgProtocolError);
    expect(() => reader.push(client.sync())).toThrow(first as Error);
  });
});

describe("FrontendReader: frame limit", () => {
  it("names the limit and its setting in a 54000 error, as soon as the header arrives", () => {
    const reader = new FrontendReader();
    reader.push(STARTUP);
    const header = Buffer.from([0x51, 0, 0, 0, 0]);
    header.writeInt32BE(80_000_000, 1);
    expectProtocolError(
      () => reader.push(header),
      "54000",
      /^message of 80000000 bytes exceeds the 67108864-byte frame limit \(proxies\.postgres\.maxFrameBytes\)$/,
    );
  });

  it("accepts a frame of exactly maxFrameBytes and refuses one byte more", () => {
    const text = "x".repeat(100 - 4 - 1);
    const fits = client.query(text);
    expect(fits.readInt32BE(1)).toBe(100);
    expect(afterStartup(fits, new FrontendReader({ maxFrameBytes: 100 }))).toEqual([
      { type: "query", text, raw: fits },
    ]);
    expectProtocolError(
      () => afterStartup(client.query(`${text}x`), new FrontendReader({ maxFrameBytes: 100 })),
      "54000",
      /message of 101 bytes exceeds the 100-byte/,
    );
  });

  it("can be lowered while running (e.g. before authentication)", () => {
    const reader = new FrontendReader();
    reader.push(STARTUP);
    reader.maxFrameBytes = 1000;
    expectProtocolError(() => reader.push(client.passwordMessage("t".repeat(2000))), "54000", /1000-byte/);
  });

  it("rejects a nonsensical limit", () => {
    expect(() => new FrontendReader({ maxFrameBytes: 4 })).toThrow(RangeError);
  });
});

describe("password payloads", () => {
  it("decodes a SASLInitialResponse written by pg-protocol and by Sluice", () => {
    const fromPg = serialize.sendSASLInitialResponseMessage("SCRAM-SHA-256", "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    const [m] = afterStartup(fromPg);
    if (m?.type !== "password") throw new Error("expected password");
    expect(decodeSaslInitialResponse(m.data)).toEqual({
      mechanism: "SCRAM-SHA-256",
      response: Buffer.from("n,,n=,r=rOprNGfwEbeRWgbNEkqO"),
    });
    const none = client.saslInitialResponse("SCRAM-SHA-256-PLUS", null);
    expect(decodeSaslInitialResponse(none.subarray(5))).toEqual({
      mechanism: "SCRAM-SHA-256-PLUS",
      response: Buffer.alloc(0),
    });
  });

  it("refuses malformed SASLInitialResponse bodies", () => {
    expectProtocolError(
      () => decodeSaslInitialResponse(Buffer.from("SCRAM")),
      "08P01",
      /missing string terminator/,
    );
    expectProtocolError(
      () => decodeSaslInitialResponse(Buffer.concat([cstr("SCRAM-SHA-256"), i32(-5)])),
      "08P01",
      /invalid response length -5/,
    );
    expectProtocolError(
      () => decodeSaslInitialResponse(Buffer.concat([cstr("SCRAM-SHA-256"), i32(10), Buffer.from("abc")])),
      "08P01",
      /unexpected end/,
    );
    expectProtocolError(
      () => decodeSaslInitialResponse(Buffer.concat([cstr("M"), i32(1), Buffer.from("ab")])),
      "08P01",
      /1 unexpected trailing/,
    );
  });

  it("reads PasswordMessage text and refuses a missing terminator or trailing bytes", () => {
    expect(passwordText(cstr("eyJhbGciOi.token"))).toBe("eyJhbGciOi.token");
    expectProtocolError(() => passwordText(Buffer.from("abc")), "08P01", /PasswordMessage message: missing/);
    expectProtocolError(() => passwordText(Buffer.from("abc\0d")), "08P01", /1 unexpected trailing/);
  });
});
