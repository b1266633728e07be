import { ApprovalReads } from "./approvals.ts";
import { AuditSearch } from "./audit-search.ts";
import { CredentialReads } from "./credentials.ts";
import type { ReadModelDb } from "./database.ts";
import { PolicyReads } from "./policy.ts";
import { SessionReads } from "./sessions.ts";
import { TaskReads } from "./tasks.ts";

/** Every read model's queries over one read-model database: what the GraphQL resolvers use. */
export class ReadModels {
  readonly policy: PolicyReads;
  readonly approvals: ApprovalReads;
  readonly sessions: SessionReads;
  readonly tasks: TaskReads;
  readonly credentials: CredentialReads;
  readonly audit: AuditSearch;

  constructor(db: ReadModelDb) {
    this.policy = new PolicyReads(db);
    this.approvals = new ApprovalReads(db);
    this.sessions = new SessionReads(db);
    this.tasks = new TaskReads(db);
    this.credentials = new CredentialReads(db);
    this.audit = new AuditSearch(db);
  }
}
