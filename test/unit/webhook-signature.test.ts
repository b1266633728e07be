import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhookSignature } from "../../src/gate/notify/webhooks.ts";

const secret = "whsec-test-1";
const body = JSON.stringify({ type: "approval.requested", approval: { approvalId: "a-1" } });
const now = 1_750_000_000_000;
const timestamp = now / 1000;

describe("webhook signatures", () => {
  it("signs v1= + hex HMAC-SHA256 over timestamp.body", () => {
    const expected = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
    expect(signWebhook(secret, timestamp, body)).toBe(`v1=${expected}`);
  });

  it("accepts a valid signature within the tolerance", () => {
    const header = signWebhook(secret, timestamp, body);
    expect(verifyWebhookSignature(secret, header, String(timestamp), body, 300, now)).toBe(true);
    expect(verifyWebhookSignature(secret, header, String(timestamp), body, 300, now + 299_000)).toBe(true);
  });

  it("rejects a tampered body", () => {
    const header = signWebhook(secret, timestamp, body);
    const tampered = body.replace("a-1", "a-2");
    expect(verifyWebhookSignature(secret, header, String(timestamp), tampered, 300, now)).toBe(false);
  });

  it("rejects a wrong secret", () => {
    const header = signWebhook("another-secret", timestamp, body);
    expect(verifyWebhookSignature(secret, header, String(timestamp), body, 300, now)).toBe(false);
  });

  it("rejects a stale or far-future timestamp, even when signed correctly", () => {
    const stale = timestamp - 301;
    expect(
      verifyWebhookSignature(secret, signWebhook(secret, stale, body), String(stale), body, 300, now),
    ).toBe(false);
    const future = timestamp + 301;
    expect(
      verifyWebhookSignature(secret, signWebhook(secret, future, body), String(future), body, 300, now),
    ).toBe(false);
  });

  it("rejects a timestamp that differs from the signed one, and malformed headers", () => {
    const header = signWebhook(secret, timestamp, body);
    expect(verifyWebhookSignature(secret, header, String(timestamp + 1), body, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, header, "1.75e9", body, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, header, "", body, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, "", String(timestamp), body, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, header.slice(3), String(timestamp), body, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, `${header}00`, String(timestamp), body, 300, now)).toBe(false);
  });
});
