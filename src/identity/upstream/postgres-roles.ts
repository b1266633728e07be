import { randomBytes } from "node:crypto";
import pg from "pg";
import { SluiceError } from "../../errors.ts";

/**
 * Ephemeral PostgreSQL roles: one per credential, LOGIN with a random password, VALID UNTIL
 * the credential's expiry and member of a template role (e.g. read-only), so the database
 * itself enforces the sub-task's scope. The gateway's own account (CREATEROLE) manages them.
 * Passwords live only in this process's memory; after a restart a role's password is reset.
 */

export const ROLE_PREFIX = "sluice_cred_";

export class PostgresRoleManager {
  private readonly passwords = new Map<string, string>();

  constructor(readonly adminUrl: string) {}

  /** The role name for a credential (a UUID): fixed, so every instance and every restart agrees. */
  static roleName(credentialId: string): string {
    return ROLE_PREFIX + credentialId.replaceAll("-", "").toLowerCase();
  }

  /** The credential a role was made for: the inverse of roleName. */
  static credentialOf(role: string): string {
    const hex = role.slice(ROLE_PREFIX.length);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  async create(
    credentialId: string,
    template: string,
    validUntil: Date,
  ): Promise<{ role: string; password: string }> {
    const role = PostgresRoleManager.roleName(credentialId);
    const password = randomBytes(24).toString("base64url");
    await this.admin(async (client) => {
      // Identifiers and literals are escaped by the server's own quoting functions.
      const sql = await client.query<{ sql: string }>(
        "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L VALID UNTIL %L IN ROLE %I', $1::text, $2::text, $3::text, $4::text) AS sql",
        [role, password, validUntil.toISOString(), template],
      );
      await client.query(sql.rows[0]?.sql as string);
    });
    this.passwords.set(role, password);
    return { role, password };
  }

  /** The role's password, resetting it when this process does not know it (after a restart). */
  async password(role: string): Promise<string> {
    const known = this.passwords.get(role);
    if (known) return known;
    const password = randomBytes(24).toString("base64url");
    await this.admin(async (client) => {
      const sql = await client.query<{ sql: string }>(
        "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text) AS sql",
        [role, password],
      );
      await client.query(sql.rows[0]?.sql as string);
    });
    this.passwords.set(role, password);
    return password;
  }

  /** Terminates the role's sessions, then drops it and whatever it owns. Harmless when already gone. */
  async drop(role: string): Promise<{ backendsTerminated: number }> {
    this.passwords.delete(role);
    let backendsTerminated = 0;
    await this.admin(async (client) => {
      const exists = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
      if (exists.rowCount === 0) return;
      // NOLOGIN first, so no new session slips in between terminating and dropping.
      await client.query(await format(client, "ALTER ROLE %I NOLOGIN", role));
      const terminated = await client.query(
        "SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1) t",
        [role],
      );
      backendsTerminated = terminated.rows[0]?.n ?? 0;
      await client.query(await format(client, "DROP OWNED BY %I", role));
      await client.query(await format(client, "DROP ROLE %I", role));
    });
    return { backendsTerminated };
  }

  /** Every ephemeral role that exists now (for reconciliation at start). */
  async list(): Promise<string[]> {
    let roles: string[] = [];
    await this.admin(async (client) => {
      const result = await client.query<{ rolname: string }>(
        "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname",
        [ROLE_PREFIX],
      );
      roles = result.rows.map((r) => r.rolname);
    });
    return roles;
  }

  private async admin(use: (client: pg.Client) => Promise<void>): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    client.on("error", () => {});
    try {
      await client.connect();
      await use(client);
    } catch (error) {
      // Never echo SQL here: it may carry a password.
      throw new SluiceError(
        "STORE_UNAVAILABLE",
        `managing upstream roles failed: ${(error as { message?: string }).message?.replace(/PASSWORD\s+'[^']*'/gi, "PASSWORD '…'")}`,
      );
    } finally {
      await client.end().catch(() => {});
    }
  }
}

async function format(client: pg.Client, template: string, role: string): Promise<string> {
  const result = await client.query<{ sql: string }>("SELECT format($1, $2::text) AS sql", [template, role]);
  return result.rows[0]?.sql as string;
}
