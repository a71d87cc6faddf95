/**
 * Issue 11 acceptance on the real cluster: the sink writes a table it has
 * never heard of, created here ON CLUSTER (ReplicatedMergeTree partitioned by
 * day, ordered by the user's own keys), typed from `system.columns`, through
 * `--map topic=analytics.<Distributed name>`. Every value is compared column
 * by column; an ADD COLUMN while running is picked up; type failures become
 * dead letters naming the column; kill -9 and a rebalance add no row.
 */
import assert from "node:assert/strict";
import {
  chHeaders,
  chQuery,
  ensureTopics,
  groupLag,
  kcatProduce,
  pollUntil,
  startTask,
  stopTask,
  type TaskProcess,
} from "./_helpers.ts";

const NODES = [18123, 18124, 18125, 18126].map((p) => `http://127.0.0.1:${p}`);
const T = { sanitizeOps: false, sanitizeResources: false };

async function ch(sql: string, url = NODES[0]): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    body: sql,
    headers: chHeaders(),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.trim()}`);
}

/** Creates `analytics.<name>_local` ON CLUSTER and its Distributed table. */
async function createTable(name: string): Promise<void> {
  await ch(`CREATE TABLE analytics.${name}_local ON CLUSTER analytics_cluster (
    id UInt64, ts DateTime('UTC'), day Date, device String, code FixedString(4),
    i8 Int8, u16 UInt16, i32 Int32, i64 Int64, u64 UInt64, f32 Float32,
    f64 Float64, price Decimal(18, 4), ok UInt8, uid UUID,
    level Enum8('info' = 1, 'warn' = 2, 'error' = 3), note Nullable(String),
    tags Array(String), nums Array(Int32), payload String,
    pair Tuple(UInt16, String),
    _topic String, _partition UInt32, _offset UInt64, _key String,
    _ingested_at DateTime('UTC')
  ) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/${name}_local', '{replica}')
  PARTITION BY toYYYYMMDD(ts) ORDER BY (device, ts)`);
  await ch(
    `CREATE TABLE analytics.${name} ON CLUSTER analytics_cluster AS analytics.${name}_local ENGINE = Distributed(analytics_cluster, analytics, ${name}_local, rand())`,
  );
}

async function dropTable(name: string): Promise<void> {
  for (const t of [name, `${name}_local`]) {
    await ch(`DROP TABLE IF EXISTS analytics.${t} ON CLUSTER analytics_cluster`)
      .catch(() => {});
  }
}

const T0 = Date.UTC(2026, 10, 20, 22); // 50k rows span five days
const LEVELS = ["info", "warn", "error"];
const hex12 = (i: number) => i.toString(16).padStart(12, "0");

/** Valid message `i` (JSON object). */
function message(i: number, extra?: string): Record<string, unknown> {
  const ms = T0 + i * 7_000;
  const m: Record<string, unknown> = {
    id: i,
    // Three time forms: ISO UTC, ISO with offset, epoch ms.
    ts: i % 3 === 0
      ? new Date(ms).toISOString()
      : i % 3 === 1
      ? new Date(ms + 2 * 3600_000).toISOString().replace("Z", "+02:00")
      : ms,
    day: new Date(ms).toISOString().slice(0, 10),
    device: `dev-${i % 7}`,
    code: `c${i % 100}`,
    i8: (i % 256) - 128,
    u16: i % 65536,
    i32: i === 0 ? 0 : -i * 1000, // not -0: JSON writes it as 0
    i64: String(-(2n ** 62n) - BigInt(i)),
    u64: String(2n ** 63n + BigInt(i)),
    f32: (i % 64) / 4,
    f64: i / 8 + 0.125,
    price: `${i}.${String(i % 10000).padStart(4, "0")}`,
    ok: i % 2 === 0,
    uid: `00000000-0000-4000-8000-${hex12(i)}`.toUpperCase(),
    level: LEVELS[i % 3],
    tags: ["a", `t${i % 3}`],
    nums: [i, i === 0 ? 0 : -i],
    payload: { k: i, nested: { x: [1, 2] } },
    pair: [i % 1000, `p"${i}`],
    unknown_field: "ignored",
  };
  if (i % 4 === 0) m.note = null;
  else if (i % 4 !== 1) m.note = `note ${i} ü "q"`;
  if (extra !== undefined) m.extra = extra;
  return m;
}

/** The row ClickHouse 18.16 should return for message `i`. */
function expected(i: number): Record<string, unknown> {
  const m = message(i);
  const ms = T0 + i * 7_000;
  return {
    id: String(i),
    ts: new Date(ms).toISOString().slice(0, 19).replace("T", " "),
    day: m.day,
    device: m.device,
    code: (m.code as string).padEnd(4, "\u0000"),
    i8: m.i8,
    u16: m.u16,
    i32: m.i32,
    i64: m.i64,
    u64: m.u64,
    f32: m.f32,
    f64: m.f64,
    // 18.16 prints Decimal as a JSON number: compare its exact text.
    price_text: m.price,
    ok: i % 2 === 0 ? 1 : 0,
    uid: (m.uid as string).toLowerCase(),
    level: m.level,
    note: i % 4 < 2 ? null : m.note,
    tags: m.tags,
    nums: m.nums,
    payload: JSON.stringify(m.payload),
    pair: m.pair,
    _key: `k${i}`,
  };
}

/** Invalid messages: one per failure kind, and the column it must name. */
const BAD: Array<[string, (m: Record<string, unknown>) => void]> = [
  ["i8", (m) => m.i8 = 300],
  ["uid", (m) => m.uid = "not-a-uuid"],
  ["level", (m) => m.level = "fatal"],
  ["ts", (m) => m.ts = "yesterday"],
];

const line = (i: number, m: Record<string, unknown>) =>
  `k${i}\t${JSON.stringify(m)}`;

function sink(
  topic: string,
  table: string,
  group: string,
  extra: string[] = [],
) {
  return startTask("sink", [
    "--topics",
    topic,
    "--map",
    `${topic}=analytics.${table}`,
    "--group",
    group,
    "--metrics-port",
    "0",
    "--session-timeout",
    "6s",
    ...extra,
  ], { env: { LOG_LEVEL: "info" } });
}

async function count(table: string, where = "1"): Promise<number> {
  const [r] = await chQuery<{ c: string }>(
    `SELECT count() AS c FROM analytics.${table} WHERE ${where}`,
  );
  return Number(r.c);
}

const uid = () => crypto.randomUUID().slice(0, 8);

Deno.test({
  ...T,
  name:
    "sink any table: values equal column by column, ADD COLUMN while running, type failures dead-lettered by column",
  fn: async () => {
    const name = `anytable_t${uid()}`;
    const topic = `anytable_${uid()}`;
    const group = `anytable-g${uid()}`;
    // Acceptance 1: 50k messages by kcat, every value compared.
    const N = 50_000, HALF = N / 2;
    await ensureTopics([topic], 3);
    await createTable(name);
    const bad: Array<{ id: number; column: string }> = [];
    const batch = (from: number, to: number, extra?: (i: number) => string) => {
      const out: string[] = [];
      for (let i = from; i < to; i++) {
        out.push(line(i, message(i, extra?.(i))));
        if (i % 500 === 250) {
          const k = bad.length % BAD.length;
          const id = 1_000_000 + bad.length;
          const m = message(i);
          m.id = id;
          BAD[k][1](m);
          bad.push({ id, column: BAD[k][0] });
          out.push(line(id, m));
        }
      }
      return out;
    };
    let p: TaskProcess | undefined;
    try {
      await kcatProduce(topic, batch(0, HALF), { keyDelimiter: "\t" });
      p = sink(topic, name, group);
      await pollUntil(async () => (await count(name)) >= HALF, {
        what: `${HALF} rows of the first half`,
        timeoutMs: 120_000,
      });
      // The schema changes under the running sink.
      await ch(
        `ALTER TABLE analytics.${name}_local ON CLUSTER analytics_cluster ADD COLUMN extra String`,
      );
      // 18.16 refuses ON CLUSTER for a Distributed table over replicated
      // shards: alter it on every node.
      for (const node of NODES) {
        await ch(`ALTER TABLE analytics.${name} ADD COLUMN extra String`, node);
      }
      const sinkRef = p;
      await pollUntil(
        () =>
          /table changed: converter rebuilt[^\n]*extra/.test(
            sinkRef.stderrText(),
          ),
        { what: "the sink to pick up the new column", timeoutMs: 30_000 },
      );
      await kcatProduce(topic, batch(HALF, N, (i) => `x${i}`), {
        keyDelimiter: "\t",
      });
      await pollUntil(async () => (await count(name)) >= N, {
        what: `${N} rows`,
        timeoutMs: 120_000,
      });
      await pollUntil(async () => (await groupLag(group, topic)) === 0, {
        what: "lag 0",
      });
      assert.equal(await count(name), N, "valid rows exactly once");

      // One query per chunk of ids keeps each answer small.
      const CHUNK = 10_000;
      const mismatches: string[] = [];
      let compared = 0;
      for (let from = 0; from < N; from += CHUNK) {
        const rows = await chQuery<Record<string, unknown>>(
          `SELECT *, toString(price) AS price_text FROM analytics.${name} WHERE id >= ${from} AND id < ${
            from + CHUNK
          } ORDER BY id`,
        );
        assert.equal(rows.length, Math.min(CHUNK, N - from), `ids ${from}…`);
        rows.forEach((row, k) => {
          const i = from + k;
          const want = { ...expected(i), extra: i < HALF ? "" : `x${i}` };
          for (const [col, v] of Object.entries(want)) {
            compared++;
            try {
              assert.deepEqual(row[col], v);
            } catch {
              if (mismatches.length < 10) {
                mismatches.push(
                  `id ${i} ${col}: got ${JSON.stringify(row[col])}, want ${
                    JSON.stringify(v)
                  }`,
                );
              }
            }
          }
          if (row._topic !== topic) mismatches.push(`id ${i} _topic`);
        });
      }
      assert.equal(compared, N * 23, "every value of every row compared");
      assert.deepEqual(mismatches, []);
      const [meta] = await chQuery<{ o: string; ing: string }>(
        `SELECT uniqExact(_partition, _offset) AS o, min(_ingested_at) > toDateTime('2020-01-01 00:00:00') AS ing FROM analytics.${name}`,
      );
      assert.equal(Number(meta.o), N);
      assert.equal(Number(meta.ing), 1);

      // Every invalid message is a dead letter whose reason names its column.
      const dls = await pollUntil(async () => {
        const r = await chQuery<{ reason: string; original: string }>(
          `SELECT reason, original FROM analytics.dead_letter WHERE _topic = '${topic}'`,
        );
        return r.length >= bad.length ? r : undefined;
      }, { what: `${bad.length} dead letters`, timeoutMs: 30_000 });
      assert.equal(dls.length, bad.length);
      for (const b of bad) {
        const dl = dls.find((d) => JSON.parse(d.original).id === b.id);
        assert.ok(dl, `dead letter for id ${b.id}`);
        assert.match(dl.reason, new RegExp(`^column "${b.column}": `));
      }
      assert.equal(await count(name, "id >= 1000000"), 0);
    } finally {
      if (p) assert.equal(await stopTask(p), 0);
      await dropTable(name);
    }
  },
});

Deno.test({
  ...T,
  name:
    "sink any table: kill -9 three times during the load plus a rebalance → exact count without FINAL",
  fn: async () => {
    const name = `anytable_k${uid()}`;
    const topic = `anytable_${uid()}`;
    const group = `anytable-g${uid()}`;
    // Large enough that three kills land mid-load with the decode workers.
    const N = 300_000;
    await ensureTopics([topic], 3);
    await createTable(name);
    try {
      const lines: string[] = [];
      for (let i = 0; i < N; i++) lines.push(line(i, message(i)));
      await kcatProduce(topic, lines, { keyDelimiter: "\t" });
      const extra = ["--batch-rows", "3000", "--min-insert-interval", "300ms"];
      let reformed = 0;
      for (let k = 0; k < 3; k++) {
        const p = sink(topic, name, group, extra);
        const before = await count(name);
        await pollUntil(async () => (await count(name)) > before, {
          what: "progress before kill",
          timeoutMs: 60_000,
          intervalMs: 50,
        });
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
        p.kill("SIGKILL");
        reformed += (await p.wait()).stderr.split("re-forming a batch").length -
          1;
        assert.ok((await count(name)) < N, `kill ${k + 1} landed mid-load`);
      }
      // Two members: the group rebalances while the rest is written.
      const a = sink(topic, name, group, extra);
      await new Promise((r) => setTimeout(r, 1500));
      const b = sink(topic, name, group, extra);
      try {
        await pollUntil(async () => (await groupLag(group, topic)) === 0, {
          what: "everything committed",
          timeoutMs: 120_000,
        });
      } finally {
        assert.equal(await stopTask(a), 0);
        assert.equal(await stopTask(b), 0);
      }
      reformed += a.stderrText().split("re-forming a batch").length - 1;
      const [r] = await chQuery<{ c: string; u: string; o: string }>(
        `SELECT count() AS c, uniqExact(id) AS u, uniqExact(_partition, _offset) AS o FROM analytics.${name}`,
      );
      assert.deepEqual([Number(r.c), Number(r.u), Number(r.o)], [N, N, N]);
      // Both replicas of each shard hold the same rows.
      const per = await pollUntil(async () => {
        const c = await Promise.all(NODES.map(async (url) => {
          const [x] = await chQuery<{ c: string }>(
            `SELECT count() AS c FROM analytics.${name}_local`,
            url,
          );
          return Number(x.c);
        }));
        return c[0] === c[1] && c[2] === c[3] && c[0] + c[2] === N
          ? c
          : undefined;
      }, { what: "replicas agreeing", timeoutMs: 60_000 });
      console.log(`per node ${per.join("/")}, ranges re-formed: ${reformed}`);
    } finally {
      await dropTable(name);
    }
  },
});
