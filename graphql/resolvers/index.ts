import { exportMutations, exportQueries } from "./exports.ts";
import { mutationResolvers } from "./mutation.ts";
import { queryResolvers } from "./query.ts";
import { subscriptionResolvers } from "./subscription.ts";
import { typeResolvers } from "./types.ts";

export const resolvers = {
  ...typeResolvers,
  Query: { ...queryResolvers, ...exportQueries },
  Mutation: { ...mutationResolvers, ...exportMutations },
  Subscription: subscriptionResolvers,
};
