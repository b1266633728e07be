import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/**
 * What the gate counts for Prometheus (`GET /metrics` on the API port): decisions and how long
 * they took, the part of that spent making CommandDecided durable, open sessions, completed
 * commands and masked values. Labels are protocol, decision and status only, never an identity,
 * target or command, so the series stay few and say nothing an auditor's log should hold.
 */
export class GateMetrics {
  private readonly decisions: Counter<"protocol" | "decision">;
  private readonly decisionSeconds: Histogram<"protocol">;
  private readonly recordSeconds: Histogram<"protocol">;
  private readonly sessions: Gauge<"protocol">;
  private readonly completed: Counter<"protocol" | "status">;
  private readonly masked: Counter<"protocol">;
  /** Sessions counted as open, so a session closed twice is taken off once. */
  private readonly open = new WeakSet<object>();

  constructor(registry: Registry) {
    const registers = [registry];
    // From 50 µs (a cached decision on a fast disk) to 2.5 s (a stalled disk).
    const buckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5];
    this.decisions = new Counter({
      name: "sluice_decisions_total",
      help: "Commands decided, by protocol and decision (allow, deny, hold)",
      labelNames: ["protocol", "decision"],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: "sluice_decision_seconds",
      help: "Time from a command reaching the gate to its verdict, the durable CommandDecided included",
      labelNames: ["protocol"],
      buckets,
      registers,
    });
    this.recordSeconds = new Histogram({
      name: "sluice_decision_record_seconds",
      help: "Part of sluice_decision_seconds spent appending CommandDecided until durable",
      labelNames: ["protocol"],
      buckets,
      registers,
    });
    this.sessions = new Gauge({
      name: "sluice_sessions_open",
      help: "Agent sessions open, by protocol",
      labelNames: ["protocol"],
      registers,
    });
    this.completed = new Counter({
      name: "sluice_commands_completed_total",
      help: "Commands that ran to an end, by protocol and status (ok, error, denied, cancelled)",
      labelNames: ["protocol", "status"],
      registers,
    });
    this.masked = new Counter({
      name: "sluice_masked_values_total",
      help: "Values masked in responses and records, by protocol",
      labelNames: ["protocol"],
      registers,
    });
  }

  decided(protocol: string, decision: "allow" | "deny" | "hold", seconds: number): void {
    this.decisions.inc({ protocol, decision });
    this.decisionSeconds.observe({ protocol }, seconds);
  }

  recorded(protocol: string, seconds: number): void {
    this.recordSeconds.observe({ protocol }, seconds);
  }

  sessionOpened(session: { protocol: string }): void {
    this.open.add(session);
    this.sessions.inc({ protocol: session.protocol });
  }

  sessionClosed(session: { protocol: string }): void {
    if (this.open.delete(session)) this.sessions.dec({ protocol: session.protocol });
  }

  commandCompleted(protocol: string, status: string, maskedValues: number): void {
    this.completed.inc({ protocol, status });
    if (maskedValues > 0) this.masked.inc({ protocol }, maskedValues);
  }
}
