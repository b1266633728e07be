import { createHash } from "node:crypto";
import { SluiceError } from "../errors.ts";

/**
 * Tamper evidence. Each event's hash chains to the previous event of its stream:
 *   hash = sha256(prevHash ‖ canonical({ stream, revision, type, data, metadata }))
 * over RFC 8785 canonical JSON. The first event of a stream chains to GENESIS.
 */

export const GENESIS = "0".repeat(64);

/**
 * RFC 8785 canonical JSON. Leaves are serialised by JSON.stringify, whose string and number
 * forms RFC 8785 adopts; object keys sort by UTF-16 code units, as Array.prototype.sort does.
 * Written out rather than calling the `canonicalize` package because every append runs it and
 * this is about 2.5× faster; test/unit/chain.test.ts checks both agree on arbitrary JSON.
 */
export function canonical(value: unknown): string {
  const text = encode(value);
  if (text === undefined) throw new SluiceError("EVENT_INVALID", "value has no canonical JSON form");
  return text;
}

function encode(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      if (!(value as string & { isWellFormed(): boolean }).isWellFormed())
        throw new SluiceError("EVENT_INVALID", "a string holds a lone surrogate: no canonical JSON form");
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value))
        throw new SluiceError("EVENT_INVALID", `${value} has no canonical JSON form`);
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += `${i > 0 ? "," : ""}${encode(value[i]) ?? "null"}`;
        return `${out}]`;
      }
      const record = value as Record<string, unknown> & { toJSON?: () => unknown };
      if (typeof record.toJSON === "function") return encode(record.toJSON());
      let out = "";
      for (const key of Object.keys(record).sort()) {
        const member = encode(record[key]);
        if (member !== undefined) out += `${out === "" ? "" : ","}${JSON.stringify(key)}:${member}`;
      }
      return `{${out}}`;
    }
    case "bigint":
      throw new SluiceError("EVENT_INVALID", "a bigint has no canonical JSON form");
    default:
      return undefined; // undefined, functions and symbols: left out, as JSON does
  }
}

export interface HashInput {
  stream: string;
  revision: bigint;
  type: string;
  /** canonical(data) and canonical(metadata): what the store keeps, byte for byte. */
  dataJson: string;
  metadataJson: string;
}

export function eventHash(prevHash: string, event: HashInput): string {
  // Equal to canonical({ data, metadata, revision, stream, type }): keys in RFC 8785 order,
  // members already canonical; built by concatenation so each event is serialised once.
  const body =
    `{"data":${event.dataJson},"metadata":${event.metadataJson},"revision":${event.revision}` +
    `,"stream":${JSON.stringify(event.stream)},"type":${JSON.stringify(event.type)}}`;
  return createHash("sha256").update(prevHash).update(body).digest("hex");
}

/**
 * Merkle tree hash as in RFC 6962 §2.1 (leaf = H(0x00‖x), node = H(0x01‖l‖r)), built
 * incrementally with O(log n) memory so a seal over millions of events streams.
 */
export class MerkleAccumulator {
  /** Roots of perfect subtrees, largest first; `sizes[i]` leaves under `roots[i]`. */
  private readonly roots: Buffer[] = [];
  private readonly sizes: number[] = [];
  count = 0;

  add(hexHash: string): void {
    let node = sha256(LEAF, Buffer.from(hexHash, "hex"));
    let size = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === size) {
      const left = this.roots.pop() as Buffer;
      this.sizes.pop();
      node = sha256(NODE, left, node);
      size *= 2;
    }
    this.roots.push(node);
    this.sizes.push(size);
    this.count += 1;
  }

  /** The root over everything added; the empty tree hashes to sha256(""). */
  root(): string {
    if (this.roots.length === 0) return createHash("sha256").digest("hex");
    let acc = this.roots[this.roots.length - 1] as Buffer;
    for (let i = this.roots.length - 2; i >= 0; i--) acc = sha256(NODE, this.roots[i] as Buffer, acc);
    return acc.toString("hex");
  }
}

export function merkleRoot(hexHashes: Iterable<string>): string {
  const acc = new MerkleAccumulator();
  for (const h of hexHashes) acc.add(h);
  return acc.root();
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}
