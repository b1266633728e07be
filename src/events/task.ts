import { z } from "zod";
import { id, identityRef } from "./common.ts";

/** Stream `task-<id>`: the work an agent declares, forming a tree through parentTaskId. */
export const taskEvents = {
  TaskDeclared: z.object({
    taskId: id,
    parentTaskId: id.optional(),
    intent: z.string(),
    agent: identityRef,
  }),
};
