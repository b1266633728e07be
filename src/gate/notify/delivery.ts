import { SluiceError } from "../../errors.ts";
import { signWebhook } from "./signature.ts";

export interface DeliveryRequest {
  targetName: string;
  url: string;
  secret: string;
  deliveryId: string;
  body: string;
  timeoutMs: number;
}

/**
 * POSTs one signed delivery and returns the HTTP status; throws on a network error, a timeout,
 * a redirect or any non-2xx answer. Errors name the target, never its URL (a Slack webhook URL
 * is itself a credential) nor its secret.
 */
export async function postWebhook(request: DeliveryRequest): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-sluice-signature": signWebhook(request.secret, timestamp, request.body),
        "x-sluice-timestamp": String(timestamp),
        "x-sluice-delivery": request.deliveryId,
        "user-agent": "sluice-webhook/1",
      },
      body: request.body,
      // A redirect could send the signed notice somewhere else; 3xx counts as a failure.
      redirect: "manual",
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (error) {
    throw new SluiceError(
      "INTERNAL",
      `webhook "${request.targetName}" unreachable: ${describe(error, request.timeoutMs)}`,
      { target: request.targetName },
    );
  }
  // The answer is not used; cancelling frees the connection.
  await response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status > 299) {
    throw new SluiceError("INTERNAL", `webhook "${request.targetName}" answered HTTP ${response.status}`, {
      target: request.targetName,
      httpStatus: response.status,
    });
  }
  return response.status;
}

/** A short reason without the URL: undici's messages and causes can include it. */
function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `timed out after ${timeoutMs} ms`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  return error instanceof Error ? error.name : "unknown error";
}
