/**
 * bench/pg-lineage: what column lineage costs per distinct statement, cold (computed, not
 * cached), against parsing the same text alone (libpg-query) as the baseline, over the masking
 * evasion corpus (views, CTEs, joins, RETURNING, COPY …) on a static catalog. Also the cost
 * of a cache hit (the same text again under one catalog generation).
 *   npx tsx bench/pg-lineage.ts [-- --rounds 200]
 */
import { parseArgs } from "node:util";
import { parseSync } from "libpg-query";
import { initLineage, lineageOf } from "../src/proxy/postgres/lineage/index.ts";
import { EVASION_CORPUS, staticCatalog } from "../test/unit/pg-evasion-corpus.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "200" } } });
const ROUNDS = Number(values.rounds);

await initLineage();
const uncached = staticCatalog(); // no cacheKey: every call computes lineage from scratch
const cached = { ...staticCatalog(), cacheKey: "bench" };
const statements = EVASION_CORPUS.map((c) => c.sql);

/** Median µs per call of fn(sql) for each statement, `ROUNDS` calls each after a warm-up. */
function perStatement(fn: (sql: string) => unknown): number[] {
  return statements.map((sql) => {
    for (let i = 0; i < 20; i++) fn(sql);
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const start = process.hrtime.bigint();
      fn(sql);
      samples.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    return median(samples);
  });
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const parse = perStatement((sql) => parseSync(sql));
const lineage = perStatement((sql) => lineageOf(sql, uncached));
const hit = perStatement((sql) => lineageOf(sql, cached));

const fmt = (n: number) => n.toFixed(1).padStart(7);
const ratios = lineage.map((l, i) => l / (parse[i] as number));
const worst = lineage.indexOf(Math.max(...lineage));
console.log(`pg-lineage: ${statements.length} distinct statements, median of ${ROUNDS} runs each (µs)`);
console.log(`                      median      p90      max`);
for (const [name, xs] of [
  ["parse only (baseline)", parse],
  ["lineage, cold", lineage],
  ["lineage, cache hit", hit],
] as const)
  console.log(`${name.padEnd(21)} ${fmt(median(xs))}  ${fmt(quantile(xs, 0.9))}  ${fmt(Math.max(...xs))}`);
console.log(
  `cold lineage / parse: median ${median(ratios).toFixed(2)}x, max ${Math.max(...ratios).toFixed(2)}x`,
);
console.log(`slowest: ${fmt(lineage[worst] as number)} µs  ${statements[worst]?.slice(0, 100)}`);

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}
