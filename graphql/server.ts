import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { isSluiceError } from "../src/errors.ts";
import { authenticate } from "./auth.ts";
import { type GraphqlContext, type GraphqlDeps, makeSettle } from "./context.ts";
import { isGraphQLError, maskError } from "./errors.ts";
import { mountExportDownloads } from "./exports-route.ts";
import {
  armorPlugins,
  type GraphqlLimits,
  loadPersistedOperations,
  type PersistedOperationsOptions,
  persistedOperationsPlugin,
} from "./limits.ts";
import { resolvers } from "./resolvers/index.ts";

/** The GraphQL API (graphql-yoga) mounted on the gateway's fastify server at /graphql. */

export const GRAPHQL_PATH = "/graphql";
const typeDefs = readFileSync(new URL("./schema.graphql", import.meta.url), "utf8");

export interface GraphqlOptions {
  limits: GraphqlLimits;
  persistedOperations?: PersistedOperationsOptions;
}

const isRefusal = (value: unknown) =>
  (isSluiceError(value) && ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"].includes(value.code)) ||
  (isGraphQLError(value) && value.extensions?.code !== undefined);

type ServerContext = { req: FastifyRequest; reply: FastifyReply };

export function mountGraphql(app: FastifyInstance, deps: GraphqlDeps, options: GraphqlOptions): void {
  const log = deps.log.child({ component: "graphql" });
  const settle = makeSettle(deps);
  const live = new Set<() => void>();
  // Open SSE streams would keep the server from closing: end them first.
  app.addHook("preClose", async () => {
    for (const end of [...live]) end();
  });
  const plugins: Plugin[] = armorPlugins(options.limits);
  if (options.persistedOperations) {
    const { file, allowArbitrary } = options.persistedOperations;
    plugins.unshift(persistedOperationsPlugin(loadPersistedOperations(file), allowArbitrary));
  }
  const yoga = createYoga<ServerContext, GraphqlContext>({
    schema: createSchema<ServerContext & GraphqlContext>({ typeDefs, resolvers }),
    graphqlEndpoint: GRAPHQL_PATH,
    graphiql: false,
    landingPage: false,
    // No cross-origin browser access unless an operator fronts the API with a proxy that adds it.
    cors: false,
    maskedErrors: { maskError: maskError(log) },
    // Refusals (bad token, FORBIDDEN …) are answers, not failures: logged at debug only.
    logging: {
      debug: (...args) => log.debug(args.join(" ")),
      info: (...args) => log.info(args.join(" ")),
      warn: (...args) => (isRefusal(args[0]) ? log.debug : log.warn).call(log, args.join(" ")),
      error: (...args) => (isRefusal(args[0]) ? log.debug : log.error).call(log, args.join(" ")),
    },
    plugins,
    // Every operation, introspection included, needs a valid token.
    context: async ({ request }) => ({
      deps,
      reads: deps.reads,
      settle,
      live,
      viewer: await authenticate(request.headers.get("authorization"), deps.verifier, deps.roles),
    }),
  });

  mountExportDownloads(app, deps);
  app.route({
    url: GRAPHQL_PATH,
    method: ["GET", "POST", "OPTIONS"],
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply });
      response.headers.forEach((value, key) => {
        reply.header(key, value);
      });
      // A finished stream should not leave a keep-alive connection for shutdown to wait out.
      if (response.headers.get("content-type")?.startsWith("text/event-stream"))
        reply.header("connection", "close");
      reply.status(response.status);
      // Subscriptions stream (SSE); everything else is one body.
      return reply.send(response.body);
    },
  });
}
