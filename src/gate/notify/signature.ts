import { createHmac, timingSafeEqual } from "node:crypto";

/** `v1=` + hex HMAC-SHA256 over `${timestamp}.${body}`; the timestamp is unix seconds. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * Checks `x-sluice-signature` and `x-sluice-timestamp` against the raw body, for receivers and
 * tests. Rejects timestamps more than `toleranceSeconds` away from `now` (ms) to stop replays.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  timestampHeader: string,
  body: string,
  toleranceSeconds = 300,
  now = Date.now(),
): boolean {
  if (!/^\d{1,15}$/.test(timestampHeader)) return false;
  const timestamp = Number(timestampHeader);
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(header);
  // Lengths are public (always "v1=" + 64 hex digits); only the contents need a constant-time compare.
  return given.length === expected.length && timingSafeEqual(given, expected);
}
