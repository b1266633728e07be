import { describe, expect, it } from "vitest";
import { splitUserName } from "../../src/proxy/ssh/agent-auth.ts";
import { checkHostKey, parseKnownHosts } from "../../src/proxy/ssh/known-hosts.ts";
import { parseAddress } from "../../src/proxy/ssh/upstream.ts";

const KEY_A = "AAAAC3NzaC1lZDI1NTE5AAAAIAvBwP6Ug0YdosynWWH+/LyE5FjUN+w3ZNJLEndsIGCv";
const KEY_B = "AAAAC3NzaC1lZDI1NTE5AAAAIENNX4jR0Vf2G+6swvQnIoPn1I8HqvCOjrImJtWpWDJU";
const blob = (base64: string) => Buffer.from(base64, "base64");
// `ssh-keygen -H` of "[db.internal]:2222 ssh-ed25519 KEY_A".
const HASHED = `|1|h8W0Tbh7GnruzmWmW+uW8qKxHUc=|ucSLeWYVOFEDJTO0+aQ3Uh+8ZQk= ssh-ed25519 ${KEY_A}`;

describe("upstream host key check against known_hosts lines", () => {
  const check = (lines: string[], host: string, port: number, key: string) =>
    checkHostKey(parseKnownHosts(lines), host, port, blob(key));

  it.each([
    ["a plain host on port 22", [`web.internal ssh-ed25519 ${KEY_A}`], "web.internal", 22],
    ["a bracketed host:port", [`[10.0.0.5]:2222 ssh-ed25519 ${KEY_A}`], "10.0.0.5", 2222],
    ["one of several comma-separated names", [`a,web.internal,b ssh-ed25519 ${KEY_A}`], "web.internal", 22],
    ["a wildcard", [`*.internal ssh-ed25519 ${KEY_A}`], "web.internal", 22],
    ["a hashed name", [HASHED], "db.internal", 2222],
    ["any of two keys for a host", [`web ssh-ed25519 ${KEY_B}`, `web ssh-ed25519 ${KEY_A}`], "web", 22],
  ])("accepts the key of %s", (_what, lines, host, port) => {
    expect(check(lines, host, port, KEY_A)).toEqual({ ok: true });
  });

  it("refuses another key for a known host as a possible man-in-the-middle", () => {
    const result = check([`web ssh-ed25519 ${KEY_B}`], "web", 22, KEY_A);
    expect(result).toEqual({ ok: false, reason: expect.stringContaining("does not match") });
  });

  it("refuses a host no line names, including the right host on another port", () => {
    expect(check([`web ssh-ed25519 ${KEY_A}`], "web", 2222, KEY_A)).toEqual({
      ok: false,
      reason: expect.stringContaining("no knownHosts entry for [web]:2222"),
    });
    expect(check([HASHED], "db.internal", 22, KEY_A).ok).toBe(false);
  });

  it("refuses a negated name even when a wildcard covers it, and a @revoked key", () => {
    expect(check([`*.internal,!web.internal ssh-ed25519 ${KEY_A}`], "web.internal", 22, KEY_A).ok).toBe(
      false,
    );
    const revoked = [`@revoked * ssh-ed25519 ${KEY_A}`, `web ssh-ed25519 ${KEY_A}`];
    expect(check(revoked, "web", 22, KEY_A)).toEqual({
      ok: false,
      reason: expect.stringContaining("@revoked"),
    });
  });

  it("skips comments and blank lines, and rejects lines it cannot read", () => {
    expect(parseKnownHosts(["# comment", "", `web ssh-ed25519 ${KEY_A} user@host`])).toHaveLength(1);
    expect(() => parseKnownHosts(["web ssh-ed25519"])).toThrow(/cannot read/);
    expect(() => parseKnownHosts([`@weird web ssh-ed25519 ${KEY_A}`])).toThrow(/unknown marker/);
  });
});

describe("the SSH user name and the target address", () => {
  it.each([
    ["web-1", { target: "web-1" }],
    ["deploy@web-1", { login: "deploy", target: "web-1" }],
    ["a@b@web-1", { login: "a@b", target: "web-1" }],
  ])("reads %s", (name, expected) => {
    expect(splitUserName(name)).toEqual(expected);
  });

  it.each([
    ["10.0.0.12:2222", { host: "10.0.0.12", port: 2222 }],
    ["web.internal", { host: "web.internal", port: 22 }],
    ["[::1]:2200", { host: "::1", port: 2200 }],
    ["fe80::1", { host: "fe80::1", port: 22 }],
  ])("reads the address %s", (address, expected) => {
    expect(parseAddress(address)).toEqual(expected);
  });
});
