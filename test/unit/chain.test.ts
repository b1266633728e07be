import { createHash } from "node:crypto";
import canonicalizeJson from "canonicalize";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonical, eventHash, GENESIS, MerkleAccumulator, merkleRoot } from "../../src/eventstore/chain.ts";

const sha = (...parts: Buffer[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** RFC 6962 §2.1 written recursively, as the reference for the incremental version. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(Buffer.from([0]), leaves[0] as Buffer);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

describe("canonical JSON (RFC 8785)", () => {
  it("sorts keys, drops whitespace and normalises numbers", () => {
    expect(canonical({ b: 1, a: [true, null, 1e21, 0.5], é: "x" })).toBe(
      '{"a":[true,null,1e+21,0.5],"b":1,"é":"x"}',
    );
  });

  it("agrees with the canonicalize package on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        expect(canonical(value)).toBe(canonicalizeJson(value));
      }),
      { numRuns: 2000 },
    );
    // Keys that sort differently by code unit than by code point, and numbers at the edges.
    const tricky = { "\u{1F600}": 1, "\uFFFD": 2, a: [-0, 1e-7, 123456789012345680000, 5e-324], "": null };
    expect(canonical(tricky)).toBe(canonicalizeJson(tricky));
  });

  it("refuses what has no canonical form", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, "\ud800", { a: 1n }])
      expect(() => canonical(bad)).toThrow();
  });
});

describe("eventHash", () => {
  const input = {
    stream: "session-1",
    revision: 3n,
    type: "SessionEnded",
    dataJson: '{"a":1}',
    metadataJson: '{"b":2}',
  };

  it("equals sha256(prev ‖ canonical envelope)", () => {
    const envelope = canonical({
      stream: "session-1",
      revision: 3,
      type: "SessionEnded",
      data: { a: 1 },
      metadata: { b: 2 },
    });
    const expected = createHash("sha256").update(GENESIS).update(envelope).digest("hex");
    expect(eventHash(GENESIS, input)).toBe(expected);
  });

  it("changes with the previous hash, the revision, the stream and the payload", () => {
    const base = eventHash(GENESIS, input);
    expect(eventHash("1".repeat(64), input)).not.toBe(base);
    expect(eventHash(GENESIS, { ...input, revision: 4n })).not.toBe(base);
    expect(eventHash(GENESIS, { ...input, stream: "session-2" })).not.toBe(base);
    expect(eventHash(GENESIS, { ...input, dataJson: '{"a":2}' })).not.toBe(base);
  });
});

describe("Merkle root", () => {
  it("matches the RFC 6962 recursive definition for every size up to 70", () => {
    const hashes: string[] = [];
    for (let n = 0; n <= 70; n++) {
      expect(merkleRoot(hashes)).toBe(
        referenceRoot(hashes.map((h) => Buffer.from(h, "hex"))).toString("hex"),
      );
      hashes.push(createHash("sha256").update(String(n)).digest("hex"));
    }
  });

  it("depends on order", () => {
    const [a, b] = ["aa".repeat(32), "bb".repeat(32)];
    expect(merkleRoot([a, b])).not.toBe(merkleRoot([b, a]));
    const acc = new MerkleAccumulator();
    acc.add(a);
    acc.add(b);
    expect(acc.count).toBe(2);
    expect(acc.root()).toBe(merkleRoot([a, b]));
  });
});
