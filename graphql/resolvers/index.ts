import { mutationResolvers } from "./mutation.ts";
import { queryResolvers } from "./query.ts";
import { subscriptionResolvers } from "./subscription.ts";
import { typeResolvers } from "./types.ts";

export const resolvers = {
  ...typeResolvers,
  Query: queryResolvers,
  Mutation: mutationResolvers,
  Subscription: subscriptionResolvers,
};
