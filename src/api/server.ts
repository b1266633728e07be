import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Readiness } from "./readiness.ts";

/** The gateway's HTTP API: health now; metrics and GraphQL mount here as they land. */
export function buildApiServer(options: { log: Logger; readiness: Readiness }): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.log.child({ component: "api" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });

  // Liveness: the process serves requests.
  app.get("/healthz", async () => ({ status: "ok" }));

  // Readiness: every registered part is up (store open, projections caught up …).
  app.get("/readyz", async (_request, reply) => {
    const report = options.readiness.report();
    return reply
      .code(report.ready ? 200 : 503)
      .send({ status: report.ready ? "ready" : "not ready", ...report });
  });

  return app;
}
