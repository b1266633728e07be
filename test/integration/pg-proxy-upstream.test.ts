import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PgProxyFixture, startPgProxyFixture } from "../support/pg-proxy.ts";

async function certificateAuthority(name: string) {
  const ca = await generate([{ name: "commonName", value: name }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { caCert: ca.cert, cert: server.cert, key: server.private };
}

/**
 * The gateway's side of the upstream: each way PostgreSQL asks a client to prove itself
 * (SCRAM, md5, trust), upstream TLS verified against a configured CA, and ephemeral roles
 * made per credential — the agent never holds any of these secrets.
 */
describe("PostgreSQL proxy: upstream login", () => {
  let fx: PgProxyFixture;
  beforeAll(async () => {
    const pki = await certificateAuthority("Sluice test CA");
    const other = await certificateAuthority("Some other CA");
    process.env.SLUICE_TEST_UPSTREAM_CA = pki.caCert;
    process.env.SLUICE_TEST_OTHER_CA = other.caCert;
    fx = await startPgProxyFixture(
      (db, env) => {
        const at = `127.0.0.1:${db.port}`;
        process.env.SLUICE_TEST_MD5_URL = `postgresql://md5user:md5-secret@${at}/postgres?sslmode=disable`;
        process.env.SLUICE_TEST_TRUST_URL = `postgresql://trustuser@${at}/postgres?sslmode=disable`;
        process.env.SLUICE_TEST_TLS_URL = `postgresql://tlsuser:tls-secret@localhost:${db.port}/postgres?sslmode=verify-full`;
        return `
targets:
  - { name: app, protocol: postgres, address: "${at}", credential: { env: SLUICE_TEST_MD5_URL } }
  - { name: trusted, protocol: postgres, address: "${at}", credential: { env: SLUICE_TEST_TRUST_URL } }
  - { name: verified, protocol: postgres, address: "localhost:${db.port}", credential: { env: SLUICE_TEST_TLS_URL }, ca: { env: SLUICE_TEST_UPSTREAM_CA } }
  - { name: impostor, protocol: postgres, address: "localhost:${db.port}", credential: { env: SLUICE_TEST_TLS_URL }, ca: { env: SLUICE_TEST_OTHER_CA } }
  - { name: scoped, protocol: postgres, address: "${at}", credential: { env: ${env} }, ephemeralRole: { template: app_readonly } }
access: [{ name: agents, who: { groups: [agents] }, targets: ["*"], level: read-write }]
`;
      },
      [
        "SET password_encryption = 'md5'",
        "CREATE ROLE md5user LOGIN PASSWORD 'md5-secret'",
        "RESET password_encryption",
        "CREATE ROLE trustuser LOGIN",
        "CREATE ROLE tlsuser LOGIN PASSWORD 'tls-secret'",
        "CREATE ROLE app_readonly NOLOGIN",
        "CREATE TABLE notes (id int, body text)",
        "INSERT INTO notes VALUES (1, 'hello')",
        "GRANT SELECT ON notes TO app_readonly",
      ].join(";\n"),
      {},
      {
        tls: { cert: pki.cert, key: pki.key },
        hba: [
          "host all md5user 127.0.0.1/32 md5",
          "host all trustuser 127.0.0.1/32 trust",
          "hostnossl all tlsuser 127.0.0.1/32 reject",
        ],
      },
    );
  });
  afterAll(async () => fx?.close());

  const whoAmI =
    "SELECT current_user AS who, coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS tls";

  it("logs in upstream with md5 and with trust", async () => {
    const md5 = await fx.connect();
    expect((await md5.query(whoAmI)).rows).toEqual([{ who: "md5user", tls: false }]);
    await md5.end();
    const { token } = await fx.gate.credential({ target: "trusted" });
    const trust = await fx.connect({ database: "trusted", password: token });
    expect((await trust.query(whoAmI)).rows).toEqual([{ who: "trustuser", tls: false }]);
    await trust.end();
  });

  it("verifies the upstream's certificate against the configured CA, and refuses one it cannot verify", async () => {
    const { token } = await fx.gate.credential({ target: "verified" });
    const verified = await fx.connect({ database: "verified", password: token });
    expect((await verified.query(whoAmI)).rows).toEqual([{ who: "tlsuser", tls: true }]);
    await verified.end();
    const impostor = await fx.gate.credential({ target: "impostor" });
    await expect(fx.connect({ database: "impostor", password: impostor.token })).rejects.toMatchObject({
      code: "08006",
      message: expect.stringContaining("upstream TLS failed"),
    });
  });

  it("logs in as the credential's own ephemeral role, which can do only what its template allows", async () => {
    const { token, credentialId } = await fx.gate.credential({ target: "scoped" });
    const client = await fx.connect({ database: "scoped", password: token });
    const who = (await client.query(whoAmI)).rows[0];
    expect(who.who).toBe(`sluice_cred_${credentialId.replaceAll("-", "")}`);
    expect((await client.query("SELECT body FROM notes")).rows).toEqual([{ body: "hello" }]);
    await expect(client.query("INSERT INTO notes VALUES (2, 'no')")).rejects.toMatchObject({ code: "42501" });
    await client.end();
  });
});
