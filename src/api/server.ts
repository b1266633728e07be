import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Readiness } from "./readiness.ts";

/** The gateway's HTTP API: health, Prometheus metrics; GraphQL and exports mount here. */
export function buildApiServer(options: {
  log: Logger;
  readiness: Readiness;
  metrics: Registry;
}): FastifyInstance {
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

  // Prometheus text format: the gate's counters and timings plus the process's own (event loop lag, heap).
  app.get("/metrics", async (_request, reply) =>
    reply.type(options.metrics.contentType).send(await options.metrics.metrics()),
  );

  return app;
}
