/**
 * One error base class for all of Sluice. Protocol adapters map `code` to their own
 * vocabulary (SQLSTATE, SSH exit status, HTTP status, GraphQL extensions.code).
 */
export type SluiceErrorCode =
  | "CONFIG_INVALID"
  | "EVENT_INVALID"
  | "STORED_EVENT_INVALID"
  | "WRONG_EXPECTED_REVISION"
  | "STORE_UNAVAILABLE"
  | "STORE_CLOSED"
  | "KEY_INVALID"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  /** The action waits for a human: `details.approvalId` names the request to vote on. */
  | "APPROVAL_REQUIRED"
  | "INTERNAL";

export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: SluiceErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "SluiceError";
    this.code = code;
    this.details = details;
  }
}

export function isSluiceError(error: unknown, code?: SluiceErrorCode): error is SluiceError {
  return error instanceof SluiceError && (code === undefined || error.code === code);
}
