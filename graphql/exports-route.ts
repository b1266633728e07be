import type { FastifyInstance } from "fastify";
import { isSluiceError } from "../src/errors.ts";
import { authenticate } from "./auth.ts";
import type { GraphqlDeps } from "./context.ts";
import { EXPORTS_PATH } from "./resolvers/exports.ts";

/**
 * GET /exports/<id>/<file>: an export's file for an auditor or admin, with the same bearer
 * token as the API; each file is checked against the hash recorded when it was written.
 */
export function mountExportDownloads(app: FastifyInstance, deps: GraphqlDeps): void {
  app.get<{ Params: { id: string; file: string } }>(`${EXPORTS_PATH}/:id/:file`, async (req, reply) => {
    try {
      const viewer = await authenticate(req.headers.authorization ?? null, deps.verifier, deps.roles);
      viewer.require(["auditor", "admin"], "exports");
      const exports = deps.exports;
      const state = exports ? await exports.status(req.params.id) : { status: "none" as const };
      if (!exports || state.status !== "done" || !state.completed)
        return reply
          .status(404)
          .send({ error: "not_found", message: `export ${req.params.id} has no files (yet)` });
      const content = exports.file(req.params.id, req.params.file, state.completed);
      return reply
        .header(
          "content-type",
          req.params.file.endsWith(".json") ? "application/json" : "application/octet-stream",
        )
        .header("content-disposition", `attachment; filename="${req.params.file}"`)
        .send(content);
    } catch (error) {
      const code = isSluiceError(error)
        ? error.code
        : ((error as { extensions?: { code?: string } }).extensions?.code ?? "");
      const status =
        code === "UNAUTHENTICATED" ? 401 : code === "FORBIDDEN" ? 403 : code === "NOT_FOUND" ? 404 : 500;
      if (status === 500) deps.log.error({ err: error }, "export download failed");
      return reply.status(status).send({
        error: code.toLowerCase() || "internal",
        message: status === 500 ? "Unexpected error." : (error as Error).message,
      });
    }
  });
}
