import { describe, expect, it } from "vitest";
import { isSluiceError } from "../../src/errors.ts";
import { generateApiKey, hashApiKey, type StoredApiKey, verifyApiKey } from "../../src/identity/api-keys.ts";

const PEPPER = "a-per-deployment-pepper-of-at-least-32-bytes";

function reason(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    if (isSluiceError(error, "UNAUTHENTICATED")) return error.details.reason;
    throw error;
  }
  throw new Error("the key was accepted");
}

describe("API keys", () => {
  const agent = generateApiKey(PEPPER);
  const deployer = generateApiKey(PEPPER);
  const stored: StoredApiKey[] = [
    { id: "k1", hash: agent.hash, subject: "agent-7", groups: ["readers"] },
    { id: "k2", hash: deployer.hash, subject: "deploy-bot", groups: ["deployers"], scope: ["db:prod"] },
  ];

  it("generates high-entropy keys and stores only a peppered hash", () => {
    expect(agent.key).toMatch(/^sluice_[A-Za-z0-9_-]{43}$/);
    expect(agent.key).not.toBe(deployer.key);
    expect(agent.hash).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
    expect(agent.hash).not.toContain(agent.key.slice(7));
    expect(hashApiKey(agent.key, PEPPER)).toBe(agent.hash);
    expect(hashApiKey(agent.key, `${PEPPER}-other`)).not.toBe(agent.hash);
  });

  it("returns the identity of the matching key", () => {
    expect(verifyApiKey(agent.key, stored, PEPPER)).toEqual({
      keyId: "k1",
      subject: "agent-7",
      groups: ["readers"],
    });
    expect(verifyApiKey(deployer.key, stored, PEPPER)).toEqual({
      keyId: "k2",
      subject: "deploy-bot",
      groups: ["deployers"],
      scope: ["db:prod"],
    });
  });

  it("refuses unknown, altered, empty or oversized keys as unknown_api_key, without echoing them", () => {
    const altered = `${agent.key.slice(0, -1)}${agent.key.endsWith("A") ? "B" : "A"}`;
    for (const key of [generateApiKey(PEPPER).key, altered, "", agent.key.repeat(10), agent.hash]) {
      expect(reason(() => verifyApiKey(key, stored, PEPPER))).toBe("unknown_api_key");
    }
    try {
      verifyApiKey(altered, stored, PEPPER);
    } catch (error) {
      expect(String((error as Error).message)).not.toContain(altered);
      expect(JSON.stringify((error as { details: unknown }).details)).not.toContain(altered);
    }
  });

  it("refuses a key hashed under another pepper, and skips malformed stored hashes", () => {
    expect(reason(() => verifyApiKey(agent.key, stored, `${PEPPER}-rotated`))).toBe("unknown_api_key");
    const broken: StoredApiKey[] = [
      { id: "bad", hash: "sha1:abc", subject: "x", groups: [] },
      { id: "short", hash: "hmac-sha256:AAAA", subject: "x", groups: [] },
      ...stored,
    ];
    expect(verifyApiKey(agent.key, broken, PEPPER).keyId).toBe("k1");
    expect(reason(() => verifyApiKey(agent.key, [], PEPPER))).toBe("unknown_api_key");
  });

  it("refuses a short pepper as a configuration error", () => {
    expect(() => hashApiKey(agent.key, "short")).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
    expect(() => verifyApiKey(agent.key, stored, new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID" }),
    );
  });
});
