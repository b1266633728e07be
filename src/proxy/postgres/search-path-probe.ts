import { B, type BackendFrame, decodeDataRow, decodeReadyForQuery } from "./codec/backend.ts";
import * as up from "./codec/client-messages.ts";

/**
 * Sluice's own question to the upstream session: which search_path and which current_user
 * ("$user" in the path) it has now. Asked on the agent's own connection after login and again
 * after a statement that may have changed either (see search-path.ts); its answer never
 * reaches the agent.
 */

/**
 * Named statement and portal: a simple Query would drop the client's unnamed prepared
 * statement, and an unnamed Parse/Bind would replace the client's own. Both are closed first,
 * so a probe inside a transaction block can repeat.
 */
const PROBE = "sluice_search_path";
/** current_setting is schema-qualified: the session may have put a function of that name before pg_catalog. */
const PROBE_SQL = "SELECT current_user, pg_catalog.current_setting('search_path')";

export const PROBE_MESSAGES: Buffer = Buffer.concat([
  up.close("S", PROBE),
  up.close("P", PROBE),
  up.parse(PROBE, PROBE_SQL),
  up.bind({ portal: PROBE, statement: PROBE, paramFormats: [], params: [], resultFormats: [] }),
  up.execute(PROBE, 0),
  up.sync(),
]);

export interface ProbeAnswer {
  user: string;
  setting: string;
}

/** Collects the upstream's answer to one probe, up to its ReadyForQuery. */
export class ProbeReply {
  private row: ProbeAnswer | null = null;
  private failed = false;
  /** The transaction status after the probe; set once its ReadyForQuery arrived. */
  status: "I" | "T" | "E" | undefined;
  private settle!: () => void;
  readonly finished = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  /** The path and user, or null when the probe failed. */
  get answer(): ProbeAnswer | null {
    return this.failed ? null : this.row;
  }

  /** Takes one frame of the reply; false for frames that are not part of it (notifications, parameter changes). */
  take(frame: BackendFrame): boolean {
    switch (frame.code) {
      case B.NotificationResponse:
      case B.ParameterStatus:
        return false;
      case B.DataRow: {
        const [user, setting] = decodeDataRow(frame.raw);
        if (user && setting) this.row = { user: user.toString("utf8"), setting: setting.toString("utf8") };
        else this.failed = true;
        return true;
      }
      case B.ErrorResponse:
        this.failed = true;
        return true;
      case B.ReadyForQuery:
        this.status = decodeReadyForQuery(frame.raw);
        this.settle();
        return true;
      default:
        // CloseComplete, ParseComplete, BindComplete, CommandComplete, NoticeResponse.
        return true;
    }
  }
}
