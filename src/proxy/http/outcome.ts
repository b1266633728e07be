import type { EventInput } from "../../events/index.ts";
import type { Admitted, ProxyDeps } from "./admission.ts";
import type { Replier } from "./replies.ts";
import type { Upstream } from "./upstream.ts";

export type Outcome = Omit<EventInput<"CommandCompleted">, "sessionId" | "commandId" | "durationMs">;

/** Records how an admitted request ended; tracked, so shutdown waits for the record. */
export function finisher(deps: ProxyDeps, admitted: Admitted): (outcome: Outcome) => void {
  const { context } = deps;
  return (outcome) =>
    deps.track(
      context.gate
        .complete(admitted.lease.session, admitted.commandId, {
          ...outcome,
          durationMs: performance.now() - admitted.startedAt,
        })
        .catch((error) => context.log.warn({ err: error }, "CommandCompleted not recorded")),
    );
}

/** The target's upstream; when the target is misconfigured, a 502 is answered and recorded instead. */
export function upstreamOf(
  deps: ProxyDeps,
  admitted: Admitted,
  replier: Replier,
  finish: (outcome: Outcome) => void,
): Upstream | undefined {
  const { target, kubernetes } = admitted;
  try {
    return deps.upstreams.get(target);
  } catch (error) {
    deps.context.log.error({ err: error, target: target.name }, "http target is misconfigured");
    replier.send({
      kubernetes,
      status: 502,
      reason: "ServiceUnavailable",
      message: `target ${target.name} is misconfigured`,
    });
    finish({
      status: "error",
      error: { code: "TARGET_MISCONFIGURED", message: (error as Error).message },
      masked: [],
    });
    return undefined;
  }
}
