import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { policyDocument } from "../../src/domain/policy/document.ts";
import { bodyKind, bodyMasker, maskCaptured } from "../../src/proxy/http/body-masking.ts";
import { JsonMasker } from "../../src/proxy/http/json-masker.ts";
import { compileJsonPath } from "../../src/proxy/http/json-path.ts";
import { type MaskingRules, responseMasking } from "../../src/proxy/http/masking-rules.ts";
import { policyFrom } from "../support/policy.ts";

const policy = policyFrom(`
targets: [{ name: k, protocol: kubernetes, address: "http://kube.invalid" }]
masking:
  - name: pii
    detectors: [{ detector: email, strategy: redact }, { detector: jwt, strategy: redact }]
    jsonPaths:
      - { path: "$.items[*].spec.token", strategy: partial }
      - { path: "$..ssn", strategy: redact }
      - { path: "$.customer['home address']", strategy: "null" }
      - { path: "$.owner", strategy: hash }
  - { name: reveal, secrets: reveal }
`);
const pii = responseMasking(policy, "pii", { kubernetesSecrets: false, secretsByDefault: false }).client;
const secrets = responseMasking(policy, undefined, {
  kubernetesSecrets: true,
  secretsByDefault: false,
}).client;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const REDACTED_B64 = b64("«redacted»");

/** Masks `text` fed in the given pieces; returns the output and what was counted. */
function mask(
  rules: MaskingRules,
  pieces: string[] | Buffer[],
  options: { strict?: boolean; maxValue?: number } = {},
) {
  const out: Buffer[] = [];
  const raw: Buffer[] = [];
  const masker = new JsonMasker({
    paths: rules.paths,
    content: rules.content,
    maxValue: options.maxValue ?? 64 * 1024,
    strict: options.strict ?? rules.paths.length > 0,
    emit: (b) => out.push(Buffer.from(b)),
    raw: (b) => raw.push(Buffer.from(b)),
  });
  for (const piece of pieces) masker.write(Buffer.isBuffer(piece) ? piece : Buffer.from(piece));
  masker.end();
  return {
    text: Buffer.concat(out).toString("utf8"),
    raw: Buffer.concat(raw).toString("utf8"),
    counts: Object.fromEntries([...masker.counts.values()].map((c) => [`${c.field} ${c.rule}`, c.count])),
    fellBack: masker.fellBack,
  };
}

const ORDER = `{
  "id": 7, "owner": "dana", "big": 12345678901234567890123,
  "customer": { "email": "bob@example.com", "ssn": 123456789, "home address": "1 Main St", "name": "Bob \\"B\\" \\u00e9" },
  "items": [ { "spec": { "token": "abcdefgh12345678" } }, { "spec": { "token": null } } ],
  "history": [ { "ssn": ["1", { "x": true }] } ],
  "tags": [], "meta": {}
}`;

describe("JSON masking while the body streams", () => {
  it("masks by path and by content, leaving every other byte as the upstream sent it", () => {
    const { text, counts } = mask(pii, [ORDER]);
    const parsed = JSON.parse(text);
    expect(parsed.customer).toEqual({
      email: "«redacted:email»",
      ssn: "«redacted»",
      "home address": null,
      name: 'Bob "B" é',
    });
    expect(parsed.items[0].spec.token).toBe("************5678");
    expect(parsed.items[1].spec.token).toBeNull();
    expect(parsed.history[0].ssn).toEqual(["«redacted»", { x: "«redacted»" }]);
    expect(parsed.owner).toMatch(/^«hash:[0-9a-f]{16}»$/);
    // Untouched: spacing, the escaped name, and a number beyond double precision.
    expect(text).toContain('"big": 12345678901234567890123');
    expect(text).toContain('"name": "Bob \\"B\\" \\u00e9"');
    expect(text.startsWith('{\n  "id": 7, "owner": ')).toBe(true);
    expect(counts).toMatchObject({
      "$..ssn pii/$..ssn": 3,
      "body pii/email": 1,
      "$.items[*].spec.token pii/$.items[*].spec.token": 1,
    });
  });

  it("gives the same bytes however the body is split, at every offset", () => {
    const whole = mask(pii, [ORDER]).text;
    const bytes = Buffer.from(ORDER);
    for (let cut = 1; cut < bytes.length; cut++)
      expect(mask(pii, [bytes.subarray(0, cut), bytes.subarray(cut)]).text, `cut at ${cut}`).toBe(whole);
  });

  it("gives the same bytes for any chunking of generated JSON (property)", () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.constantFrom(
          "bob@example.com",
          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        ),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("node"), { maxLength: 4 }),
        fc.dictionary(
          fc.constantFrom("ssn", "owner", "spec", "token", "items", "a", 'q"k', "é"),
          tie("node"),
          { maxKeys: 4 },
        ),
      ),
    }));
    fc.assert(
      fc.property(
        value.node,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 0, max: 3 }),
        (node, cuts, indent) => {
          const bytes = Buffer.from(JSON.stringify(node, null, indent));
          const whole = mask(pii, [bytes]);
          // The masked body is still JSON, and no email survives in it.
          expect(() => JSON.parse(whole.text)).not.toThrow();
          expect(whole.text).not.toContain("bob@example.com");
          const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const pieces: Buffer[] = [];
          let from = 0;
          for (const at of [...offsets, bytes.length]) {
            pieces.push(bytes.subarray(from, at));
            from = at;
          }
          expect(mask(pii, pieces).text).toBe(whole.text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("masks each value of a stream of values (watch events, JSON lines) from its own root", () => {
    const events = [
      { type: "ADDED", object: { kind: "Secret", data: { password: b64("hunter2") } } },
      {
        type: "MODIFIED",
        object: { kind: "Secret", data: { password: b64("hunter3") }, stringData: { token: "plain" } },
      },
    ]
      .map((e) => JSON.stringify(e))
      .join("\n");
    const { text } = mask(secrets, [`${events}\n`]);
    const lines = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.object.data.password)).toEqual([REDACTED_B64, REDACTED_B64]);
    expect(lines[1].object.stringData.token).toBe("«redacted»");
    expect(text).not.toContain(b64("hunter2"));
  });

  it("masks Kubernetes Secrets in a get, a list, a Table and the last-applied annotation; hash keeps base64", () => {
    const item = {
      metadata: {
        name: "db",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"${b64("hunter2")}"}}`,
        },
      },
      data: { password: b64("hunter2"), user: b64("app") },
    };
    const list = JSON.stringify({ kind: "SecretList", items: [item, item] });
    const masked = JSON.parse(mask(secrets, [list]).text);
    expect(masked.items[1].data).toEqual({ password: REDACTED_B64, user: REDACTED_B64 });
    expect(masked.items[0].metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]).toBe(
      "«redacted»",
    );
    const table = JSON.stringify({
      kind: "Table",
      rows: [{ cells: ["db"], object: { ...item, kind: "Secret" } }],
    });
    expect(JSON.parse(mask(secrets, [table]).text).rows[0].object.data.password).toBe(REDACTED_B64);

    const hashed = responseMasking(policyFrom(`masking: [{ name: h, secrets: hash }]`), "h", {
      kubernetesSecrets: true,
      secretsByDefault: false,
    }).client;
    const one = JSON.parse(mask(hashed, [JSON.stringify(item)]).text).data;
    const decoded = Buffer.from(one.password, "base64").toString("utf8");
    expect(decoded).toMatch(/^«hash:[0-9a-f]{16}»$/);
    expect(one.user).not.toBe(one.password);
  });

  it("lets a profile reveal Secrets to the agent but never to the log", () => {
    const masking = responseMasking(policy, "reveal", { kubernetesSecrets: true, secretsByDefault: false });
    const body = JSON.stringify({ kind: "Secret", data: { password: b64("hunter2") } });
    expect(JSON.parse(mask(masking.client, [body]).text).data.password).toBe(b64("hunter2"));
    expect(
      maskCaptured(Buffer.from(body), "json", masking.record, { maxValue: 4096, maxCarry: 16384 }),
    ).not.toContain(b64("hunter2"));
  });

  it("falls back to text masking when the body is not JSON, unless paths must be found", () => {
    const contentOnly: MaskingRules = { content: pii.content, paths: [] };
    const page = '{"a": 1} <html>mail bob@example.com</html>';
    const notJson = mask(contentOnly, [page]);
    expect(notJson.fellBack).toBe(true);
    // Nothing of the chunk was emitted yet: all of it goes to the text masker.
    expect(notJson).toMatchObject({ text: "", raw: page });
    const later = mask(contentOnly, ['{"a": 1}\n', "<html>"]);
    expect(later).toMatchObject({ text: '{"a": 1}\n', raw: "<html>" });
    expect(() => mask(secrets, ['{"data": {"password": "x"}} <html>'])).toThrow(
      /cannot be masked as policy requires/,
    );
  });

  it("holds at most maxValue bytes of a string: a longer one is masked unread at a path, refused by content", () => {
    const long = "A".repeat(10_000);
    const masked = mask(secrets, [`{"data":{"blob":"${long}"}}`], { maxValue: 4096 });
    expect(JSON.parse(masked.text).data.blob).toBe(REDACTED_B64);
    expect(() => mask(pii, [`{"note":"${long} bob@example.com"}`], { maxValue: 4096 })).toThrow(
      /longer than 4096/,
    );
    const contentOnly: MaskingRules = { content: pii.content, paths: [] };
    expect(mask(contentOnly, [`{"note":"${long}"}`], { maxValue: 4096 }).fellBack).toBe(true);
  });

  it("finishes a body cut short (a recorded prefix) without leaking the held value", () => {
    const cut = '{"items":[{"spec":{"token":"abcdefgh1234';
    expect(mask(pii, [cut]).text).toBe('{"items":[{"spec":{"token":"«redacted»"');
    expect(mask(pii, ['{"note":"mail bob@example.com and mo']).text).toBe(
      '{"note":"mail «redacted:email» and mo',
    );
  });

  it("streams through bodyMasker as a Transform with the same result", async () => {
    const masker = bodyMasker("json", pii, { maxValue: 65536, maxCarry: 16384 });
    if (!masker) throw new Error("expected a masker");
    const out: Buffer[] = [];
    const bytes = Buffer.from(ORDER);
    await pipeline(
      Readable.from([bytes.subarray(0, 50), bytes.subarray(50)]),
      masker.stream,
      new Writable({
        write(chunk, _e, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(out).toString()).toBe(mask(pii, [ORDER]).text);
    expect(masker.findings()).toContainEqual({ field: "$..ssn", rule: "pii/$..ssn", count: 3 });
  });
});

describe("JSONPath subset", () => {
  it("compiles names, quoted names, indexes, wildcards and descent", () => {
    expect(compileJsonPath("$.items[*].spec['a.b'][0]..token")).toEqual([
      { descend: false, key: "items" },
      { descend: false },
      { descend: false, key: "spec" },
      { descend: false, key: "a.b" },
      { descend: false, key: 0 },
      { descend: true, key: "token" },
    ]);
    expect(() => compileJsonPath("$.items[?(@.x)]")).toThrow(/not a JSONPath/);
  });

  it("accepts in policy exactly what it compiles", () => {
    const parse = (path: string) =>
      policyDocument.safeParse({ masking: [{ name: "p", jsonPaths: [{ path, strategy: "redact" }] }] })
        .success;
    for (const path of ["$", "$.a", "$..a", "$['x y']", '$["q"]', "$[*]", "$..[0]", "$.a.*"]) {
      expect(parse(path), path).toBe(true);
      expect(() => compileJsonPath(path), path).not.toThrow();
    }
    for (const path of ["a.b", "$.", "$[?(@.a)]", "$.a[", "$...a"]) expect(parse(path), path).toBe(false);
  });
});

describe("body kinds", () => {
  it("tells JSON, text and binary bodies apart by media type", () => {
    expect(bodyKind("application/json; charset=utf-8")).toBe("json");
    expect(bodyKind("application/merge-patch+json")).toBe("json");
    expect(bodyKind("application/x-ndjson")).toBe("json");
    expect(bodyKind("text/plain")).toBe("text");
    expect(bodyKind("application/yaml")).toBe("text");
    expect(bodyKind(undefined)).toBe("text");
    expect(bodyKind("application/vnd.kubernetes.protobuf")).toBe("binary");
    expect(bodyKind("image/png")).toBe("binary");
  });
});
