/**
 * `deno task verify`: reconciles the books of a finished `deno task start`
 * run and prints a pass/fail table. Exit 0 when every check passes.
 *
 * - security and http: event ids in the run's NDJSON files = distinct ids in
 *   Kafka (the run's offset ranges; the shipper is at-least-once, so Kafka
 *   may repeat an id after a crash) = rows in ClickHouse, read `FINAL`
 *   (exactly one row per event), plus dead letters (none expected);
 * - PostgreSQL `users`/`orders` = the ClickHouse mirrors, row for row;
 * - freshness p50/p99 measured by the sinks (a figure, not a check).
 *
 * @module
 */
import {
  type CommandSpec,
  createClickHouse,
  createKafka,
  createLogger,
  createPgClient,
  PipelineError,
  runPipeline,
} from "../pipelines/runtime/mod.ts";
import {
  CLICKHOUSE_HAPROXY_URL,
  HOST,
  KAFKA_BOOTSTRAP,
  POSTGRES,
} from "../schemas/topology.ts";
import {
  type Check,
  clickhouseIds,
  compareIds,
  compareMirror,
  generatedIds,
  HTTP_TOPICS,
  kafkaIds,
  rangeCount,
  renderChecks,
  type RunManifest,
} from "./flow/reconcile.ts";
import { renderHops } from "./flow/hops.ts";

const SPEC = {
  name: "verify",
  summary:
    "Reconcile a finished `deno task start` run: generated = Kafka = ClickHouse; PostgreSQL = mirror",
  options: {
    run: {
      type: "string",
      description:
        "Run directory (default: the latest run, from .data/runs/latest.json)",
    },
  },
} satisfies CommandSpec;

if (import.meta.main) {
  await runPipeline(SPEC, async ({ options }) => {
    let runDir = options.run;
    if (!runDir) {
      try {
        runDir =
          JSON.parse(await Deno.readTextFile(".data/runs/latest.json")).runDir;
      } catch {
        throw new PipelineError(
          "no finished run found",
          "run `deno task start --duration 60` first",
        );
      }
    }
    let manifest: RunManifest;
    try {
      manifest = JSON.parse(await Deno.readTextFile(`${runDir}/manifest.json`));
    } catch {
      throw new PipelineError(
        `no manifest in ${runDir}`,
        "is the run finished? (start writes it when it stops)",
      );
    }
    return await verifyRun(manifest);
  });
}

/** Runs every check of a run, prints the table, returns the exit code. */
export async function verifyRun(m: RunManifest): Promise<number> {
  const log = createLogger("verify", "error");
  const kafka = createKafka({
    brokers: [...KAFKA_BOOTSTRAP],
    clientId: "verify",
    log,
  });
  const ch = createClickHouse({ url: CLICKHOUSE_HAPROXY_URL });
  const pg = createPgClient({
    url:
      `postgres://${POSTGRES.user}@${HOST}:${POSTGRES.port}/${POSTGRES.database}`,
    applicationName: "verify",
    password: Deno.env.get("PGPASSWORD") ?? POSTGRES.password,
  });
  const checks: Check[] = [];
  try {
    const gen = await generatedIds(m.eventsDir);
    const secKafka = await kafkaIds(kafka, m, ["security.events"]);
    checks.push(
      ...compareIds("security → Kafka", gen.security, secKafka, {
        duplicatesAllowed: true,
      }),
    );
    checks.push(
      ...compareIds(
        "security → ClickHouse",
        gen.security,
        await clickhouseIds(ch, "security_events FINAL", m, [
          "security.events",
        ]),
      ),
    );
    const httpKafka = await kafkaIds(kafka, m, HTTP_TOPICS);
    checks.push(
      ...compareIds("http → Kafka", gen.http, httpKafka, {
        duplicatesAllowed: true,
      }),
    );
    checks.push(
      ...compareIds(
        "http → ClickHouse fact_log",
        gen.http,
        await clickhouseIds(ch, "fact_log FINAL", m, HTTP_TOPICS),
      ),
    );
    checks.push(
      ...compareIds(
        "http errors → ClickHouse error_log",
        gen.httpErrors,
        await clickhouseIds(ch, "error_log FINAL", m, ["logs.error"]),
      ),
    );
    for (const t of ["dlq.shipper", "dlq.sink"]) {
      const n = rangeCount(m, t);
      checks.push({
        name: `dead letters in ${t}`,
        expected: 0,
        actual: n,
        ok: n === 0,
      });
    }
    await pg.connect();
    checks.push(...await compareMirror(pg, ch));
  } finally {
    await pg.end().catch(() => {});
    await ch.close();
  }
  console.log(
    `\nrun ${m.runId}: ${m.startedAt} → ${m.endedAt}, rate ${m.settings.rate}/s + ${m.settings.cdcRate} changes/s${
      m.kills.length
        ? `, kill -9: ${m.kills.map((k) => `${k.process}@${k.atS}s`).join(" ")}`
        : ""
    }\n`,
  );
  console.log(renderChecks(checks));
  if (m.freshness && Object.keys(m.freshness).length) {
    console.log(
      "\nfreshness (event created / PostgreSQL commit → row acknowledged by ClickHouse):",
    );
    for (const [table, f] of Object.entries(m.freshness)) {
      console.log(
        `  ${table.padEnd(16)} p50 ${f.p50.toFixed(3)} s   p99 ${
          f.p99.toFixed(3)
        } s   (${f.count} rows)`,
      );
    }
  }
  if (m.hops && Object.keys(m.hops.hops).length) {
    console.log(
      "\nhops (created → file → shipper → Kafka → sink → ClickHouse, per event):",
    );
    for (const line of renderHops(m.hops)) console.log(line);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}
