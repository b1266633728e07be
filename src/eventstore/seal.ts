import { CompactSign, type CryptoKey, compactVerify } from "jose";
import { type EventData, makeMetadata, newEvent, SEALS_STREAM } from "../events/index.ts";
import { canonical, MerkleAccumulator } from "./chain.ts";
import { WrongExpectedRevisionError } from "./conflict.ts";
import type { EventStore, RecordedEvent } from "./port.ts";

/**
 * Ledger seals: a signed Merkle root over every event hash in a range of $all positions,
 * appended to `$seals`. Seals chain by range (each starts where the previous ended), so a
 * verifier can prove that no event inside a sealed range was removed, altered or reordered.
 */

export type SealData = EventData<"LedgerSealed">;
type SealPayload = Omit<SealData, "keyId" | "signature">;

export async function signSeal(
  payload: SealPayload,
  key: { keyId: string; privateKey: CryptoKey },
): Promise<SealData> {
  const signature = await new CompactSign(new TextEncoder().encode(canonical(payload)))
    .setProtectedHeader({ alg: "EdDSA", kid: key.keyId })
    .sign(key.privateKey);
  return { ...payload, keyId: key.keyId, signature };
}

/** Null when the signature is valid and signs exactly this seal's fields; else the reason. */
export async function checkSealSignature(seal: SealData, publicKey: CryptoKey): Promise<string | null> {
  const { keyId: _keyId, signature, ...payload } = seal;
  try {
    const { payload: signed } = await compactVerify(signature, publicKey, { algorithms: ["EdDSA"] });
    if (new TextDecoder().decode(signed) !== canonical(payload))
      return "the signature covers different seal fields";
    return null;
  } catch (error) {
    return `the signature does not verify (${(error as Error).message})`;
  }
}

export async function lastSeal(store: EventStore): Promise<RecordedEvent | undefined> {
  for await (const event of store.readStream(SEALS_STREAM, { direction: "backwards", maxCount: 1 }))
    return event;
  return undefined;
}

export interface SealOptions {
  key: { keyId: string; privateKey: CryptoKey };
  gatewayInstance: string;
  now?: Date;
}

/**
 * Seals everything appended since the last seal. Returns the new seal, or null when there was
 * nothing new (seals alone do not call for another seal) or another instance sealed first.
 */
export async function sealNow(store: EventStore, options: SealOptions): Promise<SealData | null> {
  const previous = await lastSeal(store);
  const from = previous?.type === "LedgerSealed" ? BigInt(previous.data.toPosition) : 0n;
  const to = await store.headPosition();
  const tree = new MerkleAccumulator();
  let onlySeals = true;
  for await (const event of store.readAllRaw({ after: from })) {
    if (event.position > to) break;
    tree.add(event.hash);
    if (event.stream !== SEALS_STREAM) onlySeals = false;
  }
  if (tree.count === 0 || onlySeals) return null;
  const now = options.now ?? new Date();
  const seal = await signSeal(
    {
      fromPosition: from.toString(),
      toPosition: to.toString(),
      count: tree.count,
      merkleRoot: tree.root(),
      sealedAt: now.toISOString(),
    },
    options.key,
  );
  const event = newEvent(
    "LedgerSealed",
    seal,
    makeMetadata({ gatewayInstance: options.gatewayInstance, time: now }),
  );
  try {
    await store.append(SEALS_STREAM, [event], {
      expectedRevision: previous ? previous.revision : "no_stream",
    });
  } catch (error) {
    // Another instance sealed this range first: its seal stands, ours is not needed.
    if (error instanceof WrongExpectedRevisionError) return null;
    throw error;
  }
  return seal;
}
