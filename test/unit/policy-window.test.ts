import { describe, expect, it } from "vitest";
import { decide } from "../../src/domain/policy/decide.ts";
import { withinWindow } from "../../src/domain/policy/window.ts";
import { policyFrom } from "../support/policy.ts";

const weekdays = ["mon", "tue", "wed", "thu", "fri"];

describe("auto-approval windows", () => {
  it("tells business hours in the window's own time zone", () => {
    const berlin = { days: weekdays, from: "09:00", to: "17:00", timezone: "Europe/Berlin" };
    // Wednesday 2026-11-25: 08:30 UTC is 09:30 in Berlin (CET, UTC+1); 16:30 UTC is 17:30 there.
    expect(withinWindow(new Date("2026-11-25T08:30:00Z"), berlin)).toBe(true);
    expect(withinWindow(new Date("2026-11-25T07:59:00Z"), berlin)).toBe(false);
    expect(withinWindow(new Date("2026-11-25T16:30:00Z"), berlin)).toBe(false);
    // Saturday.
    expect(withinWindow(new Date("2026-11-28T10:00:00Z"), berlin)).toBe(false);
    const newYork = { ...berlin, timezone: "America/New_York" };
    expect(withinWindow(new Date("2026-11-25T15:00:00Z"), newYork)).toBe(true);
    expect(withinWindow(new Date("2026-11-25T08:30:00Z"), newYork)).toBe(false);
  });

  it("wraps midnight, counting the hours after it to the day the window began", () => {
    const night = { days: ["fri"], from: "22:00", to: "02:00", timezone: "UTC" };
    expect(withinWindow(new Date("2026-11-27T23:00:00Z"), night)).toBe(true); // Friday 23:00
    expect(withinWindow(new Date("2026-11-28T01:30:00Z"), night)).toBe(true); // Saturday 01:30, Friday's night
    expect(withinWindow(new Date("2026-11-28T23:00:00Z"), night)).toBe(false); // Saturday 23:00
    expect(withinWindow(new Date("2026-11-27T01:30:00Z"), night)).toBe(false); // Friday 01:30, Thursday's night
    const allDay = { days: ["sun"], from: "00:00", to: "00:00", timezone: "UTC" };
    expect(withinWindow(new Date("2026-11-29T23:59:30Z"), allDay)).toBe(true);
    expect(withinWindow(new Date("2026-11-30T00:00:30Z"), allDay)).toBe(false);
  });

  it("marks a require_approval decision auto-approved only inside the window", () => {
    const policy = policyFrom(`
targets: [{ name: staging-db, protocol: postgres, address: "db:5432" }]
access: [{ name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write }]
rules:
  - name: staging-reads
    action: require_approval
    match: { targets: [staging-db], sql: { readOnly: true } }
    approval: { groups: [dba], autoApprove: { from: "09:00", to: "17:00", timezone: Europe/Berlin } }
`);
    const input = {
      identity: { subject: "agent-1", groups: ["agents"] },
      target: "staging-db",
      command: {
        protocol: "postgres" as const,
        text: "SELECT 1",
        sql: { parsed: true, kinds: ["select"], relations: [], functions: [], flags: [], readOnly: true },
      },
      policy,
    };
    const inside = decide({ ...input, now: new Date("2026-11-25T10:00:00Z") });
    expect(inside).toMatchObject({ decision: "require_approval", approval: { autoApprove: true } });
    const outside = decide({ ...input, now: new Date("2026-11-25T20:00:00Z") });
    expect(outside.decision).toBe("require_approval");
    expect(outside.approval?.autoApprove).toBeUndefined();
  });

  it("refuses a time zone that does not exist", () => {
    expect(() =>
      policyFrom(`
rules:
  - name: r
    action: require_approval
    match: {}
    approval: { groups: [dba], autoApprove: { from: "09:00", to: "17:00", timezone: Mars/Olympus } }
`),
    ).toThrow(/IANA time zone/);
  });
});
