import type { CompiledProfile } from "../../gate/masking/profile.ts";
import { decodeCopyResponse, decodeDataRow, type FieldDescription } from "./codec/backend.ts";
import { copyData } from "./codec/server-messages.ts";
import { type CommandRun, rowLine } from "./command-run.ts";
import { CopyTextMasker } from "./copy-masking.ts";
import type { ResultPlanner, StatementInfo } from "./result-plan.ts";
import { type ColumnPlan, RowMasker } from "./row-masking.ts";

/** The command a result belongs to, as the session tracks it. */
export interface ResultOwner {
  run: CommandRun;
  profile: CompiledProfile | null;
  info: StatementInfo | null;
  statement: number;
}

/**
 * The result set being relayed: rows masked by the column plan and recorded (masked) for
 * replay up to the run's budget; rows nothing changes leave as the bytes that came in.
 */
export class ResultStream {
  private owner: ResultOwner | null = null;
  private masker: RowMasker | null = null;
  private copy: CopyTextMasker | null = null;
  private binary: boolean[] = [];
  private rows = 0;

  constructor(private readonly planner: ResultPlanner) {}

  /** Whether a result has begun (simple protocol: at RowDescription; extended: at the first row). */
  get open(): boolean {
    return this.owner !== null;
  }

  /** A result with these columns begins; resolves once its masking plan is known. */
  begin(owner: ResultOwner, fields: FieldDescription[]): void | Promise<void> {
    this.owner = owner;
    this.rows = 0;
    this.binary = fields.map((f) => f.format === 1);
    if (owner.run.capturing) owner.run.capture(fields.map((f) => f.name).join("\t"), false);
    if (!owner.profile) {
      this.masker = null;
      return;
    }
    const plans = this.planner.columns(fields, owner.info, owner.statement, owner.profile);
    if (plans instanceof Promise) return plans.then((p) => this.useMasker(owner, p));
    this.useMasker(owner, plans);
  }

  row(raw: Buffer): Buffer {
    const owner = this.owner;
    const out = this.masker ? this.masker.row(raw) : raw;
    this.rows++;
    if (owner) {
      if (owner.run.capturing) owner.run.capture(rowLine(decodeDataRow(out), this.binary), true, out.length);
      else owner.run.cut(out.length);
    }
    return out;
  }

  /** COPY TO STDOUT begins: columns come from lineage (there is no RowDescription). */
  copyOut(owner: ResultOwner, raw: Buffer): Buffer {
    this.owner = owner;
    this.rows = 0;
    this.copy = null;
    const { format } = decodeCopyResponse(raw);
    const lineage = owner.info?.lineage[owner.statement];
    if (owner.profile && lineage) {
      const fields: FieldDescription[] = lineage.map((_, i) => ({
        name: `column${i + 1}`,
        tableOid: 0,
        columnAttr: 0,
        typeOid: 0,
        typeSize: -1,
        typeModifier: -1,
        format,
      }));
      // No table OIDs: the plan comes from lineage alone, synchronously.
      const plans = this.planner.columns(fields, owner.info, owner.statement, owner.profile);
      const csv = owner.info?.copy?.format === "csv";
      if (!(plans instanceof Promise))
        this.copy = new CopyTextMasker(plans, owner.profile.contentRules, owner.run.tally, csv);
    }
    return raw;
  }

  copyData(raw: Buffer): Buffer {
    const owner = this.owner;
    let out = raw;
    if (this.copy) {
      const data = raw.subarray(5);
      const masked = this.copy.chunk(data);
      if (masked !== data) out = copyData(masked);
    }
    this.rows++;
    if (owner) {
      if (owner.run.capturing)
        owner.run.capture(out.toString("utf8", 5).replace(/\n$/, ""), true, out.length);
      else owner.run.cut(out.length);
    }
    return out;
  }

  /** The result ended (CommandComplete, EmptyQuery, PortalSuspended). */
  end(owner: ResultOwner, tag: string | undefined): void {
    if (this.owner === owner || this.owner === null) owner.run.rows += this.rows;
    if (tag) owner.run.tag = tag;
    this.owner = null;
    this.masker = null;
    this.copy = null;
    this.rows = 0;
  }

  private useMasker(owner: ResultOwner, plans: ColumnPlan[]): void {
    const masker = new RowMasker(plans, owner.profile?.contentRules ?? [], owner.run.tally);
    this.masker = masker.active ? masker : null;
  }
}
