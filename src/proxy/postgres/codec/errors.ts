/**
 * A malformed or unacceptable PostgreSQL wire message. `sqlstate` is what the proxy reports to
 * the peer (in a FATAL ErrorResponse) before closing the connection.
 */
export class PgProtocolError extends Error {
  readonly sqlstate: string;

  constructor(sqlstate: string, message: string) {
    super(message);
    this.name = "PgProtocolError";
    this.sqlstate = sqlstate;
  }
}

/** SQLSTATE 08P01 protocol_violation. */
export const PROTOCOL_VIOLATION = "08P01";
/** SQLSTATE 54000 program_limit_exceeded. */
export const PROGRAM_LIMIT_EXCEEDED = "54000";
/** SQLSTATE 0A000 feature_not_supported. */
export const FEATURE_NOT_SUPPORTED = "0A000";
/** SQLSTATE 22021 character_not_in_repertoire (invalid UTF-8). */
export const CHARACTER_NOT_IN_REPERTOIRE = "22021";

export function protocolViolation(message: string): PgProtocolError {
  return new PgProtocolError(PROTOCOL_VIOLATION, message);
}

export function frameTooLarge(length: number, limit: number): PgProtocolError {
  return new PgProtocolError(
    PROGRAM_LIMIT_EXCEEDED,
    `message of ${length} bytes exceeds the ${limit}-byte frame limit (proxies.postgres.maxFrameBytes)`,
  );
}
