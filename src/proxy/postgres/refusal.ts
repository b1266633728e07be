import * as upstream from "./codec/client-messages.ts";

/** Named statement and portal Sluice uses for refusals inside the extended protocol. */
const REFUSAL = "sluice_refusal";

/**
 * A refusal the UPSTREAM raises, so the agent sees a real error at the exact point the
 * statement would have run, and PostgreSQL itself applies transaction semantics: inside a
 * transaction block it is aborted, an implicit pipeline transaction is rolled back, and
 * later extended-protocol messages are skipped until Sync — just as if the statement failed.
 * `USING MESSAGE` keeps the text out of RAISE's format string.
 */
export function refusalStatement(sqlstate: string, message: string, hint?: string): string {
  const inner = dollarTag("m", message + (hint ?? ""));
  const hintClause = hint ? `, HINT = ${inner}${hint}${inner}` : "";
  const body = `BEGIN RAISE EXCEPTION USING ERRCODE = '${sqlstate}', MESSAGE = ${inner}${message}${inner}${hintClause}; END`;
  const outer = dollarTag("sluice", body);
  return `DO ${outer}${body}${outer}`;
}

/** The simple-protocol form: one Query message. */
export function refusalQuery(sqlstate: string, message: string, hint?: string): Buffer {
  return upstream.query(refusalStatement(sqlstate, message, hint));
}

/**
 * The extended-protocol form, sent in place of the refused Execute: close any earlier refusal
 * statement, parse and bind this one, execute it. Only the Execute's ErrorResponse reaches the
 * agent; the other responses are swallowed (`REFUSAL_RESPONSES` of them).
 */
export function refusalMessages(sqlstate: string, message: string, hint?: string): Buffer[] {
  return [
    upstream.close("S", REFUSAL),
    upstream.parse(REFUSAL, refusalStatement(sqlstate, message, hint)),
    upstream.bind({ portal: REFUSAL, statement: REFUSAL, paramFormats: [], params: [], resultFormats: [] }),
    upstream.execute(REFUSAL, 0),
  ];
}

/** A dollar-quote tag that does not occur in the text it quotes. */
function dollarTag(prefix: string, text: string): string {
  let n = 0;
  while (text.includes(`$${prefix}${n}$`)) n++;
  return `$${prefix}${n}$`;
}
