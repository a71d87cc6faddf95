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
 * `--json` prints the same figures as one JSON document on stdout instead
 * (see {@link VerifyReport}).
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
  CLICKHOUSE_ID_READS,
  clickhouseIds,
  compareIds,
  compareMirror,
  generatedIds,
  HTTP_TOPICS,
  kafkaIds,
  rangeCount,
  type RunManifest,
} from "./flow/reconcile.ts";
import { buildReport, renderReport, type VerifyReport } from "./flow/report.ts";

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
    json: {
      type: "boolean",
      description:
        "Print one JSON document on stdout (per-table counts, dead letters, freshness, pass) instead of the table",
      default: false,
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
    return await verifyRun(manifest, { json: options.json });
  });
}

/**
 * Runs every check of a run, prints the table (or with `json`, the report as
 * one JSON document), returns the exit code.
 */
export async function verifyRun(
  m: RunManifest,
  opts: { json?: boolean } = {},
): Promise<number> {
  const report = await collectReport(m);
  console.log(
    opts.json ? JSON.stringify(report, null, 2) : renderReport(report),
  );
  return report.pass ? 0 : 1;
}

/** Runs every check of a run against Kafka, ClickHouse and PostgreSQL. */
export async function collectReport(m: RunManifest): Promise<VerifyReport> {
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
  const clickIds = (r: { table: string; topics: readonly string[] }) =>
    clickhouseIds(ch, r.table, m, [...r.topics]);
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
        await clickIds(CLICKHOUSE_ID_READS.security),
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
        await clickIds(CLICKHOUSE_ID_READS.http),
      ),
    );
    checks.push(
      ...compareIds(
        "http errors → ClickHouse error_log",
        gen.httpErrors,
        await clickIds(CLICKHOUSE_ID_READS.httpErrors),
      ),
    );
    for (const t of ["dlq.shipper", "dlq.sink"]) {
      const n = rangeCount(m, t);
      checks.push({
        name: `dead letters in ${t}`,
        deadLetters: t,
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
  return buildReport(m, checks);
}
