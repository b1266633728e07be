import type { ExportStatus } from "../../src/export/export-jobs.ts";
import type { ExportFormat } from "../../src/export/manifest.ts";
import type { GraphqlContext } from "../context.ts";
import { apiError, badInput } from "../errors.ts";

/** `requestExport` and `export(id)`: exports as jobs, for auditors and admins. */

export const EXPORTS_PATH = "/exports";

function jobs(ctx: GraphqlContext) {
  ctx.viewer.require(["auditor", "admin"], "exports");
  if (!ctx.deps.exports) throw apiError("NOT_FOUND", "exports are not available on this gateway");
  return ctx.deps.exports;
}

function shape(id: string, state: ExportStatus) {
  if (state.status === "none") return null;
  const { request, completed } = state;
  const url = (name: string) => `${EXPORTS_PATH}/${id}/${name}`;
  return {
    id,
    status: state.status.toUpperCase(),
    format: request.format.toUpperCase(),
    from: request.from ?? null,
    to: request.to ?? null,
    requestedBy: request.requestedBy.subject,
    events: completed?.events ?? null,
    manifestSha256: completed?.manifestSha256 ?? null,
    files: completed
      ? [
          ...completed.files.map((f) => ({ ...f, url: url(f.name) })),
          { name: "manifest.json", bytes: 0, sha256: completed.manifestSha256, url: url("manifest.json") },
        ]
      : [],
    error: state.error ?? null,
  };
}

export const exportQueries = {
  export: async (_: unknown, args: { id: string }, ctx: GraphqlContext) =>
    shape(args.id, await jobs(ctx).status(args.id)),
};

export const exportMutations = {
  requestExport: async (
    _: unknown,
    args: { input: { format: string; from?: string; to?: string } },
    ctx: GraphqlContext,
  ) => {
    const exports = jobs(ctx);
    const from = args.input.from ? new Date(args.input.from) : undefined;
    const to = args.input.to ? new Date(args.input.to) : undefined;
    if (from && to && from >= to) throw badInput("from must be before to");
    const id = await exports.request({
      format: args.input.format.toLowerCase() as ExportFormat,
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      by: ctx.viewer.identity("human"),
    });
    return shape(id, await exports.status(id));
  },
};
