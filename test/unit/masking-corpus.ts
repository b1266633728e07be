import { NEGATIVES, POSITIVES, pem } from "./masking-fixtures.ts";

/**
 * Deterministic texts for the masking engine's regression and benchmark runs: the bench corpus
 * (log lines and JSON rows with a secret now and then), bench/ssh's `cat` corpus, and a hostile
 * mixture of secrets, near misses and trigger fragments in every case and glued together.
 */

/** A deterministic pseudo-random source (mulberry32): `rand(n)` is an integer in [0, n). */
export function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** The generator of bench/masking: `corpus(size, every)` is about `size` characters, a secret in one line of `every`. */
export function benchCorpus(seed = 42): { corpus(size: number, every: number): string } {
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;
  const hex = (n: number) => Array.from({ length: n }, () => "0123456789abcdef"[rand(16)]).join("");
  const secrets = [
    () => `user${rand(1000)}@example.com`,
    () => "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    () => "AKIAIOSFODNN7EXAMPLE",
    () => "postgres://app:s3cr3t-pw@db.internal:5432/orders",
    () => "4111 1111 1111 1111",
    () => "+1 415-555-2671",
    () => "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    () => "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    () => "DE89 3704 0044 0532 0130 00",
    () => "123-45-6789",
  ];
  const logLine = (secret: boolean): string => {
    const ts = `2024-06-${String(1 + rand(28)).padStart(2, "0")}T12:${String(rand(60)).padStart(2, "0")}:07.${rand(1000)}Z`;
    const msg = pick([
      `GET /api/v1/orders/${rand(100000)}?limit=50 200 ${rand(900)}ms`,
      `worker ${rand(16)} processed batch ${hex(8)} (${rand(5000)} items) in ${rand(3000)} ms`,
      `connection from 10.${rand(255)}.${rand(255)}.${rand(255)}:${1024 + rand(60000)} accepted`,
      `cache miss for key session:${hex(16)}; fetching from upstream`,
    ]);
    const tail = secret ? ` detail=${pick(secrets)()}` : "";
    return `${ts} ${pick(["INFO", "WARN", "DEBUG"])} [req-${hex(12)}] ${msg}${tail}\n`;
  };
  const jsonRow = (secret: boolean): string => {
    const row: Record<string, unknown> = {
      id: rand(10_000_000),
      created_at: "2024-06-01 10:22:33.123+00",
      status: pick(["paid", "pending", "refunded"]),
      total: rand(100000) / 100,
      sku: `SKU-${hex(6).toUpperCase()}`,
      note: pick(["", "gift wrap", "leave at door", "call before delivery", "Zustellung: Müller, Zürich"]),
    };
    if (secret) row.contact = pick(secrets)();
    return `${JSON.stringify(row)}\n`;
  };
  return {
    corpus(size, every) {
      let out = "";
      while (out.length < size)
        out += rand(2) === 0 ? logLine(rand(every) === 0) : jsonRow(rand(every) === 0);
      return out;
    },
  };
}

/** The 8000-line block bench/ssh repeats into its file: one line in 50 carries a secret or an e-mail address. */
export function sshCorpus(): string {
  const lines: string[] = [];
  for (let i = 0; i < 8000; i++) {
    const secret = [
      "AKIAIOSFODNN7EXAMPLE",
      "postgres://app:s3cr3t@db:5432/x",
      `user${i}@example.com`,
      "4111 1111 1111 1111",
    ][i % 4];
    lines.push(
      i % 2 === 0
        ? `2026-03-01T10:${String(i % 60).padStart(2, "0")}:07Z INFO [req-${(i * 7919).toString(16)}] GET /api/v1/orders/${i} 200 ${i % 900}ms${i % 50 === 0 ? ` detail=${secret}` : ""}\n`
        : `${JSON.stringify({ id: i, status: "paid", total: i / 100, note: i % 50 === 1 ? secret : "leave at door" })}\n`,
    );
  }
  return lines.join("");
}

/** Pieces a hostile text is glued from: every trigger, whole and cut short, in odd cases and spacings. */
const FRAGMENTS = [
  ...POSITIVES.map(([, text]) => text),
  ...POSITIVES.map(([, , region]) => region),
  ...NEGATIVES.map(([, text]) => text),
  pem("RSA PRIVATE KEY").slice(0, 60),
  "-----BEGIN ",
  "-----END ",
  "-----BEGIN PRIVATE KEY-----",
  "-----END PRIVATE KEY-----",
  "BeArEr ",
  "BEARER\t",
  "bearer",
  "Authorization: Bearer ",
  "AWS ",
  "SeCrEt: ",
  "aws_secret_access_key=",
  "PaSsWoRd=",
  "PASSWD = '",
  'pwd="',
  "Pwd=/home",
  "accountkey=",
  "SHAREDACCESSKEY=",
  "SharedAccessSignature=sv=2020&sig=abc%2F",
  '"private_key": "',
  '"private_key"',
  "://",
  "https://",
  "u:p@",
  ":pw@h",
  "eyJ",
  "eyJhbGciOiJIUzI1NiJ9",
  ".",
  "AKIA",
  "ASIA",
  "AIza",
  "ghp_",
  "github_pat_",
  "glpat-",
  "xoxb-",
  "xoxp-1234567890",
  "==",
  "sha512-",
  "@",
  "a@b.co",
  "+",
  "+1",
  "+49 ",
  "(212) ",
  "1-800-",
  "555-0199",
  "212.555.",
  "078-05-",
  "1120",
  "4111",
  " 1111",
  "-1111",
  "5555555555554444",
  "378282246310005",
  "DE89",
  " 3704 0044",
  "GB82WEST",
  "12345698765432",
  "«hash:",
  "»",
  "0123456789",
  "9876543210",
  "12",
  "345",
  "6789",
  " ",
  "  ",
  "-",
  ".",
  "/",
  "\n",
  "\r\n",
  "\t",
  ";",
  "&",
  "'",
  '"',
  "=",
  "é",
  "Zürich",
  "日本",
  "😀",
  "\u0080",
  "lorem ipsum dolor ",
  "SKU-4D8C0C ",
  "2024-06-01T12:05:07.978Z ",
  "10.12.34.56:51234 ",
];

/** About `size` characters glued from FRAGMENTS and random ASCII, so that triggers meet secrets in every way. */
export function hostileCorpus(seed: number, size: number): string {
  const rand = random(seed);
  let out = "";
  while (out.length < size) {
    if (rand(4) === 0) {
      let noise = "";
      for (let n = 1 + rand(12); n > 0; n--) noise += String.fromCharCode(32 + rand(95));
      out += noise;
    } else {
      out += FRAGMENTS[rand(FRAGMENTS.length)];
    }
  }
  return out;
}
