import type { BackendMessage } from "pg-protocol/dist/messages.js";
import { Parser } from "pg-protocol/dist/parser.js";
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
  type FieldDescription,
} from "../../src/proxy/postgres/codec/backend.ts";
import { PgProtocolError } from "../../src/proxy/postgres/codec/errors.ts";
import * as server from "../../src/proxy/postgres/codec/server-messages.ts";

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

/** What pg-protocol's own parser (the reference for the server → client direction) makes of `bytes`. */
function oracle(bytes: Buffer): BackendMessage[] {
  const out: BackendMessage[] = [];
  new Parser().parse(bytes, (m) => out.push(m));
  return out;
}

const FIELDS: FieldDescription[] = [
  { name: "id", tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
  {
    name: "émail",
    tableOid: 3000000001,
    columnAttr: 2,
    typeOid: 25,
    typeSize: -1,
    typeModifier: -1,
    format: 1,
  },
  { name: "ctid", tableOid: 16384, columnAttr: -1, typeOid: 27, typeSize: 6, typeModifier: -1, format: 0 },
];
const ROWS: (string | Buffer | null)[][] = [
  ["1", "ada@example.com", "(0,1)"],
  ["2", null, ""],
  ["3", Buffer.from([0xf0, 0x9f, 0x98, 0x80]), "(0,3)"],
];

/** One server stream holding every backend message type. */
const STREAM: Buffer[] = [
  server.authenticationSasl(["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]),
  server.authenticationSaslContinue("r=abc,s=c2FsdA==,i=4096"),
  server.authenticationSaslFinal(Buffer.from("v=c2lnbmF0dXJl")),
  server.authenticationOk(),
  server.authenticationCleartextPassword(),
  server.authenticationMd5Password(Buffer.from([1, 2, 3, 4])),
  server.parameterStatus("server_version", "15.8"),
  server.backendKeyData(31337, -7),
  server.readyForQuery("I"),
  frame("t", i16(2), i32(23), i32(25)),
  server.rowDescription(FIELDS),
  ...ROWS.map((row) => encodeDataRow(row)),
  server.commandComplete("SELECT 3"),
  server.noticeResponse({ code: "01000", message: "held for approval", hint: "sluice approve 7" }),
  server.errorResponse({ code: "42501", message: "denied by rule no-drop", detail: "d", position: "8" }),
  server.emptyQueryResponse(),
  server.parseComplete(),
  server.bindComplete(),
  server.closeComplete(),
  server.noData(),
  server.portalSuspended(),
  frame("G", Buffer.from([0]), i16(2), i16(0), i16(0)),
  frame("H", Buffer.from([1]), i16(1), i16(1)),
  frame("W", Buffer.from([0]), i16(0)),
  server.copyData("1\tada\n"),
  server.copyDone(),
  frame("A", i32(99), cstr("jobs"), cstr('{"id":1}')),
  frame("V", i32(2), Buffer.from("42")),
  frame("v", i32(0), i32(1), cstr("_pq_.x")),
  server.readyForQuery("T"),
  server.readyForQuery("E"),
];

describe("BackendFramer", () => {
  const bytes = Buffer.concat(STREAM);
  const expected: BackendFrame[] = STREAM.map((raw) => ({ code: raw[0] as number, raw }));

  function frames(chunks: Buffer[]): BackendFrame[] {
    const framer = new BackendFramer();
    const out: BackendFrame[] = [];
    for (const chunk of chunks) out.push(...framer.push(chunk));
    expect(framer.pending).toBe(0);
    return out;
  }

  it("cuts every backend message type identically under every chunking", () => {
    expect(frames([bytes])).toEqual(expected);
    for (let at = 1; at < bytes.length; at++) {
      expect(frames([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(expected);
    }
    const single: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    expect(frames(single)).toEqual(expected);
  });

  it("returns views of the chunk for frames wholly inside it, copies for split ones", () => {
    const chunk = Buffer.alloc(bytes.length);
    bytes.copy(chunk);
    for (const f of new BackendFramer().push(chunk)) expect(f.raw.buffer).toBe(chunk.buffer);
    const framer = new BackendFramer();
    const row = encodeDataRow(["x".repeat(100)]);
    expect(framer.push(row.subarray(0, 50))).toEqual([]);
    expect(framer.pending).toBe(50);
    const [whole] = framer.push(row.subarray(50));
    expect(whole?.raw).toEqual(row);
    row.fill(0);
    expect(whole?.raw[0]).toBe(B.DataRow);
  });

  it("refuses an unknown type byte, a bad length, and a frame past the limit (as soon as its header arrives)", () => {
    expectProtocolError(
      () => new BackendFramer().push(frame("x")),
      "08P01",
      /invalid backend message type 0x78/,
    );
    expectProtocolError(
      () => new BackendFramer().push(Buffer.from([0x44, 0, 0, 0, 2])),
      "08P01",
      /invalid length 2/,
    );
    const framer = new BackendFramer({ maxFrameBytes: 1024 });
    const big = encodeDataRow(["y".repeat(2000)]);
    expectProtocolError(
      () => framer.push(big.subarray(0, 5)),
      "54000",
      /message of 2010 bytes exceeds the 1024-byte/,
    );
    expect(() => framer.push(server.readyForQuery("I"))).toThrow(PgProtocolError);
  });
});

describe("backend decoders agree with pg-protocol's parser", () => {
  const bytes = Buffer.concat(STREAM);
  const reference = oracle(bytes);
  const ours = new BackendFramer().push(bytes);

  it("sees the same message sequence", () => {
    expect(reference).toHaveLength(ours.length);
  });

  it("decodes every message like the reference", () => {
    for (let i = 0; i < ours.length; i++) {
      const { code, raw } = ours[i] as BackendFrame;
      const ref = reference[i] as unknown as Record<string, unknown>;
      switch (code) {
        case B.RowDescription: {
          const fields = decodeRowDescription(raw);
          expect(fields).toEqual(FIELDS);
          const refFields = ref.fields as Record<string, unknown>[];
          expect(fields.map((f) => [f.name, f.tableOid, f.typeOid, f.typeSize, f.typeModifier])).toEqual(
            refFields.map((f) => [f.name, f.tableID, f.dataTypeID, f.dataTypeSize, f.dataTypeModifier]),
          );
          break;
        }
        case B.DataRow:
          expect(decodeDataRow(raw).map((v) => (v === null ? null : v.toString("utf8")))).toEqual(ref.fields);
          break;
        case B.ErrorResponse:
        case B.NoticeResponse: {
          const f = decodeFields(raw);
          expect([f.S, f.C, f.M, f.D, f.H, f.P]).toEqual([
            ref.severity,
            ref.code,
            ref.message,
            ref.detail,
            ref.hint,
            ref.position,
          ]);
          expect(f.V).toBe(f.S);
          break;
        }
        case B.CommandComplete:
          expect(decodeCommandComplete(raw)).toBe(ref.text);
          break;
        case B.ReadyForQuery:
          expect(decodeReadyForQuery(raw)).toBe(ref.status);
          break;
        case B.ParameterStatus:
          expect(decodeParameterStatus(raw)).toEqual({ name: ref.parameterName, value: ref.parameterValue });
          break;
        case B.BackendKeyData:
          expect(decodeBackendKeyData(raw)).toEqual({ processId: ref.processID, secretKey: ref.secretKey });
          break;
        case B.NotificationResponse:
          expect(decodeNotification(raw)).toEqual({
            processId: ref.processId,
            channel: ref.channel,
            payload: ref.payload,
          });
          break;
        case B.CopyBothResponse:
          // pg-protocol reads 'W' as a bare replicationStart; check against the bytes written above.
          expect(decodeCopyResponse(raw)).toEqual({ format: 0, columnFormats: [] });
          break;
        case B.CopyInResponse:
        case B.CopyOutResponse: {
          const copy = decodeCopyResponse(raw);
          expect(copy.format === 1).toBe(ref.binary);
          expect(copy.columnFormats).toEqual(ref.columnTypes);
          break;
        }
        case B.Authentication: {
          const auth = decodeAuthentication(raw);
          if (auth.kind === "sasl") expect(auth.mechanisms).toEqual(ref.mechanisms);
          else if (auth.kind === "saslContinue" || auth.kind === "saslFinal") {
            expect(auth.data.toString()).toBe(ref.data);
          } else if (auth.kind === "md5") expect(auth.salt).toEqual(ref.salt);
          else
            expect(ref.name).toBe(
              auth.kind === "ok" ? "authenticationOk" : "authenticationCleartextPassword",
            );
          break;
        }
        default:
          expect(raw.readInt32BE(1)).toBe(raw.length - 1);
      }
    }
  });

  it("decodes authentication kinds, including unsupported ones", () => {
    expect(decodeAuthentication(server.authenticationOk())).toEqual({ kind: "ok" });
    expect(decodeAuthentication(server.authenticationCleartextPassword())).toEqual({ kind: "cleartext" });
    expect(decodeAuthentication(server.authenticationSaslFinal("v=x"))).toEqual({
      kind: "saslFinal",
      data: Buffer.from("v=x"),
    });
    expect(decodeAuthentication(frame("R", i32(7)))).toEqual({ kind: "unsupported", code: 7 });
  });
});

describe("DataRow", () => {
  it("round-trips strings, buffers, empty values and NULLs", () => {
    const values = ["", "ascii", "é€😀", Buffer.from([0, 255, 0]), null, Buffer.alloc(0)];
    const raw = encodeDataRow(values);
    expect(decodeDataRow(raw)).toEqual([
      Buffer.alloc(0),
      Buffer.from("ascii"),
      Buffer.from("é€😀"),
      Buffer.from([0, 255, 0]),
      null,
      Buffer.alloc(0),
    ]);
    expect(encodeDataRow(decodeDataRow(raw))).toEqual(raw);
    expect(decodeDataRow(encodeDataRow([]))).toEqual([]);
  });

  it("returns values as views of the frame", () => {
    const raw = encodeDataRow(["abc", "def"]);
    const [first] = decodeDataRow(raw);
    expect(first?.buffer).toBe(raw.buffer);
  });

  const malformed: [string, Buffer, RegExp][] = [
    ["wrong type", server.commandComplete("SELECT 1"), /DataRow message: bad header/],
    ["length field off", Buffer.from([0x44, 0, 0, 0, 9, 0, 0]), /bad header/],
    ["column count past the end", frame("D", i16(5), i32(-1)), /5 columns do not fit/],
    ["length -2", frame("D", i16(1), i32(-2)), /column 1 has invalid length -2/],
    ["value past the end", frame("D", i16(1), i32(10), Buffer.from("abc")), /column 1 has invalid length 10/],
    ["trailing bytes", frame("D", i16(1), i32(-1), Buffer.from("z")), /1 unexpected trailing/],
  ];
  for (const [name, raw, message] of malformed) {
    it(`refuses ${name}`, () => expectProtocolError(() => decodeDataRow(raw), "08P01", message));
  }
});

describe("backend decoders refuse malformed frames", () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["RowDescription as CommandComplete", () => decodeCommandComplete(server.noData()), /expected type 0x43/],
    ["an empty buffer", () => decodeReadyForQuery(Buffer.alloc(0)), /got an empty buffer/],
    [
      "ReadyForQuery status X",
      () => decodeReadyForQuery(frame("Z", Buffer.from("X"))),
      /transaction status 0x58/,
    ],
    [
      "RowDescription count past the end",
      () => decodeRowDescription(frame("T", i16(2))),
      /2 fields do not fit/,
    ],
    [
      "RowDescription truncated field",
      () => decodeRowDescription(frame("T", i16(1), cstr("a"), Buffer.alloc(17))),
      /unexpected end/,
    ],
    [
      "ErrorResponse without final NUL",
      () => decodeFields(frame("E", Buffer.from("S"), cstr("ERROR"))),
      /end/,
    ],
    [
      "CommandComplete trailing",
      () => decodeCommandComplete(frame("C", cstr("SELECT 1"), cstr(""))),
      /trailing/,
    ],
    ["BackendKeyData short", () => decodeBackendKeyData(frame("K", i32(1))), /unexpected end/],
    [
      "BackendKeyData long (protocol 3.2 keys)",
      () => decodeBackendKeyData(frame("K", i32(1), i32(2), i32(3))),
      /4/,
    ],
    ["md5 without salt", () => decodeAuthentication(frame("R", i32(5), i16(1))), /unexpected end/],
    [
      "SASL list unterminated",
      () => decodeAuthentication(frame("R", i32(10), cstr("SCRAM-SHA-256"))),
      /missing/,
    ],
    [
      "CopyResponse formats past end",
      () => decodeCopyResponse(frame("G", Buffer.from([0]), i16(3))),
      /3 column/,
    ],
    ["Notification truncated", () => decodeNotification(frame("A", i32(1), cstr("ch"))), /missing string/],
    ["ParameterStatus without value", () => decodeParameterStatus(frame("S", cstr("a"))), /missing string/],
  ];
  for (const [name, run, message] of cases) {
    it(name, () => expectProtocolError(run, "08P01", message));
  }
});

describe("server messages Sluice writes", () => {
  it("writes exact bytes for fixed messages", () => {
    expect(server.authenticationOk()).toEqual(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]));
    expect(server.authenticationCleartextPassword()).toEqual(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
    expect(server.readyForQuery("T")).toEqual(Buffer.from([0x5a, 0, 0, 0, 5, 0x54]));
    expect(server.backendKeyData(1, 2)).toEqual(Buffer.from([0x4b, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2]));
    expect(server.parameterStatus("a", "b")).toEqual(Buffer.from([0x53, 0, 0, 0, 8, 0x61, 0, 0x62, 0]));
    const empties: [() => Buffer, number][] = [
      [server.emptyQueryResponse, 0x49],
      [server.parseComplete, 0x31],
      [server.bindComplete, 0x32],
      [server.closeComplete, 0x33],
      [server.noData, 0x6e],
      [server.portalSuspended, 0x73],
      [server.copyDone, 0x63],
    ];
    for (const [write, code] of empties) expect(write()).toEqual(Buffer.from([code, 0, 0, 0, 4]));
    expect(server.sslResponse(true)).toEqual(Buffer.from("S"));
    expect(server.sslResponse(false)).toEqual(Buffer.from("N"));
  });

  it("writes ErrorResponse with both S and V, ERROR by default, and optional fields only when given", () => {
    const raw = server.errorResponse({ code: "42501", message: "denied by rule no-drop" });
    expect(decodeFields(raw)).toEqual({ S: "ERROR", V: "ERROR", C: "42501", M: "denied by rule no-drop" });
    expect(decodeFields(server.noticeResponse({ code: "00000", message: "m" })).S).toBe("NOTICE");
    const fatal = server.errorResponse({
      severity: "FATAL",
      code: "28P01",
      message: "m",
      detail: "d",
      hint: "h",
    });
    expect(decodeFields(fatal)).toEqual({ S: "FATAL", V: "FATAL", C: "28P01", M: "m", D: "d", H: "h" });
    const error = oracle(fatal)[0] as unknown as Record<string, unknown>;
    expect([error.name, error.severity, error.code, error.detail, error.hint]).toEqual([
      "error",
      "FATAL",
      "28P01",
      "d",
      "h",
    ]);
  });

  it("drops embedded NULs so a message can never desynchronize the stream", () => {
    const raw = server.errorResponse({ code: "42501", message: "bad\0Cinjected" });
    expect(decodeFields(raw).M).toBe("badCinjected");
    expect(new BackendFramer().push(Buffer.concat([raw, server.readyForQuery("I")]))).toHaveLength(2);
  });

  it("writes a FATAL response for a PgProtocolError", () => {
    const raw = server.protocolErrorResponse(new PgProtocolError("54000", "too big"));
    expect(decodeFields(raw)).toMatchObject({ S: "FATAL", C: "54000", M: "too big" });
  });

  it("writes large messages past the writer's initial scratch size", () => {
    const payload = Buffer.alloc(300_000, 7);
    const raw = server.copyData(payload);
    expect(raw.readInt32BE(1)).toBe(300_004);
    expect(raw.subarray(5)).toEqual(payload);
    expect(decodeCommandComplete(server.commandComplete("INSERT 0 1"))).toBe("INSERT 0 1");
  });
});
