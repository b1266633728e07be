import type Database from "better-sqlite3";
import type { RecordedEvent } from "../src/eventstore/port.ts";
import type { Projection } from "./projection.ts";
import { StatementCache, Where } from "./sql.ts";

/**
 * The task tree: tasks and their sub-tasks. Credentials, sessions and commands hang off a
 * task through their own read models (by task id), so each stays rebuildable on its own.
 */

export const tasksProjection: Projection = {
  name: "tasks",
  version: 1,
  tables: ["tasks"],
  schema: `
    CREATE TABLE IF NOT EXISTS tasks (
      task_id        TEXT PRIMARY KEY,
      seq            INTEGER NOT NULL,
      parent_task_id TEXT,
      intent         TEXT NOT NULL,
      agent          TEXT NOT NULL,
      declared_at    TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS tasks_by_parent ON tasks (parent_task_id, seq);
    CREATE INDEX IF NOT EXISTS tasks_by_agent ON tasks (agent, seq);
    CREATE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq);
  `,
  prepare(db) {
    const insert = db.prepare(
      `INSERT OR REPLACE INTO tasks (task_id, seq, parent_task_id, intent, agent, declared_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    return {
      apply(event: RecordedEvent) {
        if (event.type !== "TaskDeclared") return;
        const d = event.data;
        insert.run(
          d.taskId,
          event.position,
          d.parentTaskId ?? null,
          d.intent,
          d.agent.subject,
          event.metadata.time,
        );
      },
    };
  },
};

export interface TaskRow {
  taskId: string;
  seq: number;
  parentTaskId: string | null;
  intent: string;
  agent: string;
  declaredAt: string;
}

export interface TaskQuery {
  agent?: string;
  /** Only tasks without a parent. */
  rootsOnly?: boolean;
  parentTaskId?: string;
  beforeSeq?: number;
  limit: number;
}

const COLUMNS =
  "task_id AS taskId, seq, parent_task_id AS parentTaskId, intent, agent, declared_at AS declaredAt";

export class TaskReads {
  private readonly byId;
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = db.prepare<[string], TaskRow>(`SELECT ${COLUMNS} FROM tasks WHERE task_id = ?`);
  }

  get(taskId: string): TaskRow | null {
    return this.byId.get(taskId) ?? null;
  }

  list(query: TaskQuery): TaskRow[] {
    const where = new Where()
      .when(query.agent, "agent = ?")
      .if(query.rootsOnly, "parent_task_id IS NULL")
      .when(query.parentTaskId, "parent_task_id = ?")
      .when(query.beforeSeq, "seq < ?");
    return this.statements
      .get(`SELECT ${COLUMNS} FROM tasks ${where} ORDER BY seq DESC LIMIT ?`)
      .all(...where.args, query.limit) as TaskRow[];
  }
}
