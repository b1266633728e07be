import { rmSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { classifySql } from "../../src/gate/classify/sql.ts";
import { makeDataDir } from "../support/ledger.ts";

const PROXIES = "proxies:\n  postgres: { port: 0 }\n  ssh: { port: 0 }\n  http: { port: 0 }\n";

/** The value of one series in Prometheus text format, or undefined when it is not there. */
function series(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("GET /metrics", () => {
  const paths = makeDataDir();
  afterAll(() => rmSync(paths.dir, { recursive: true, force: true }));

  it("counts decisions, their timing, open sessions and masked values, and names no one", async () => {
    writeFileSync(paths.configFile, `dataDir: ${paths.dir}/data\nlog:\n  level: silent\n${PROXIES}`);
    const gateway = await startGateway(loadConfig({ file: paths.configFile, env: { SLUICE_API_PORT: "0" } }));
    try {
      const scrape = async () => {
        const response = await fetch(`${gateway.apiUrl}/metrics`);
        expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
        return response.text();
      };
      const before = await scrape();
      expect(series(before, 'sluice_decisions_total{protocol="postgres",decision="deny"}')).toBeUndefined();
      expect(series(before, "sluice_process_nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);

      const principal = { subject: "agent-metrics-7", groups: ["agents"] };
      const client = { address: "127.0.0.1" };
      const session = await gateway.gate.openSession({
        principal,
        target: "db",
        protocol: "postgres",
        client,
      });
      expect(series(await scrape(), 'sluice_sessions_open{protocol="postgres"}')).toBe(1);

      // No policy is published: every command is denied, and still recorded first.
      const text = "SELECT secret FROM vault";
      const verdict = await gateway.gate.decide(session, {
        protocol: "postgres",
        text,
        sql: classifySql(text),
      });
      expect(verdict.kind).toBe("deny");
      await gateway.gate.complete(session, verdict.commandId, {
        status: "denied",
        durationMs: 0,
        masked: [{ field: "secret", rule: "vault", count: 3 }],
      });
      const during = await scrape();
      expect(series(during, 'sluice_decisions_total{protocol="postgres",decision="deny"}')).toBe(1);
      expect(series(during, 'sluice_decision_seconds_count{protocol="postgres"}')).toBe(1);
      expect(series(during, 'sluice_decision_record_seconds_count{protocol="postgres"}')).toBe(1);
      expect(series(during, 'sluice_decision_seconds_sum{protocol="postgres"}')).toBeGreaterThanOrEqual(
        series(during, 'sluice_decision_record_seconds_sum{protocol="postgres"}') as number,
      );
      expect(series(during, 'sluice_commands_completed_total{protocol="postgres",status="denied"}')).toBe(1);
      expect(series(during, 'sluice_masked_values_total{protocol="postgres"}')).toBe(3);
      // Labels are protocol, decision and status only: no subject, target or command.
      for (const leak of [principal.subject, "vault", "SELECT"]) expect(during).not.toContain(leak);

      await gateway.gate.closeSession(session, "done");
      await gateway.gate.closeSession(session, "closed twice");
      expect(series(await scrape(), 'sluice_sessions_open{protocol="postgres"}')).toBe(0);
    } finally {
      await gateway.stop();
    }
  });
});
