/**
 * Acceptance tests of `deno task sink` against the real cluster (issue 5) and
 * of its CDC mirror mode (issue 6 part B). Each test uses a fresh topic and
 * consumer group and counts rows by `_topic`, so tests stay isolated from
 * each other and from other pipelines writing the same tables.
 *
 * Run: deno test --allow-all tests/sink_test.ts
 */
import assert from "node:assert/strict";
import {
  chHeaders,
  chQuery,
  countRows,
  freshTopic,
  groupLag,
  kcatProduce,
  pollUntil,
  ROOT,
  startTask,
  stopTask,
  type TaskProcess,
  testKafka,
} from "./_helpers.ts";
import { Rng } from "../pipelines/generator/prng.ts";

const NODES = [
  { name: "ch1", url: "http://127.0.0.1:18123", shard: 1 },
  { name: "ch2", url: "http://127.0.0.1:18124", shard: 1 },
  { name: "ch3", url: "http://127.0.0.1:18125", shard: 2 },
  { name: "ch4", url: "http://127.0.0.1:18126", shard: 2 },
];

/**
 * The event tables are ReplacingMergeTree (so repeats from the at-least-once
 * shipper collapse). A background merge could then also hide a duplicate the
 * sink itself created, so these tests pause merges while they count: every
 * duplicate the sink might insert stays visible to count().
 */
const MERGE_PAUSED = [
  "analytics.security_events_local",
  "analytics.fact_log_local",
  "analytics.error_log_local",
];

async function setMerges(on: boolean): Promise<void> {
  for (const n of NODES) {
    for (const t of MERGE_PAUSED) {
      const res = await fetch(n.url, {
        method: "POST",
        headers: chHeaders(),
        body: `SYSTEM ${on ? "START" : "STOP"} MERGES ${t}`,
      });
      await res.body?.cancel();
    }
  }
}

/** Deno.test with merges of the event tables paused for its duration. */
function sinkTest(def: Deno.TestDefinition): void {
  Deno.test({
    ...def,
    fn: async (t) => {
      await setMerges(false);
      try {
        await def.fn(t);
      } finally {
        await setMerges(true);
      }
    },
  });
}

// --- helpers ---------------------------------------------------------------

/** Seeded floats in [0, 1), from the generator's PRNG. */
function prng(seed: number): () => number {
  const rng = new Rng(`sink-test/${seed}`);
  return () => rng.float();
}

const TYPES = ["auth_failure", "port_scan", "brute_force", "firewall_block"];
const SEVERITIES = ["info", "low", "medium", "high", "critical"];

/** `n` valid security events (contract shape), deterministic per seed. */
function securityEvents(n: number, seed: number): string[] {
  const r = prng(seed);
  const hex = (k: number) => {
    let s = "";
    for (let i = 0; i < k; i++) s += Math.floor(r() * 16).toString(16);
    return s;
  };
  const ip = () =>
    `10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${
      Math.floor(r() * 256)
    }`;
  const t0 = Date.UTC(2026, 10, 21, 12);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(JSON.stringify({
      event_id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      timestamp: new Date(t0 + i * 7).toISOString(),
      event_type: TYPES[i % TYPES.length],
      severity: SEVERITIES[Math.floor(r() * 5)],
      src_ip: ip(),
      src_port: Math.floor(r() * 65536),
      dst_ip: ip(),
      dst_port: 22,
      protocol: "ssh",
      user: i % 3 ? `user${i % 97}` : "",
      host: `host-${i % 13}`,
      action: "blocked",
      message: `event ${i} "quoted" \\ back`,
      scenario_id: "",
    }));
  }
  return out;
}

/** Row count of `topic` in `<table>_local` on each node. */
async function perNode(table: string, topic: string): Promise<number[]> {
  return await Promise.all(
    NODES.map((n) => countRows(`${table}_local`, topic, n.url)),
  );
}

/** Waits until both replicas of each shard hold the same rows, summing to `n`. */
async function replicasAgree(table: string, topic: string, n: number) {
  return await pollUntil(async (): Promise<number[] | undefined> => {
    const c = await perNode(table, topic);
    return c[0] === c[1] && c[2] === c[3] && c[0] + c[2] === n ? c : undefined;
  }, {
    what: `replicas of ${table} agreeing on ${n} rows`,
    timeoutMs: 180_000,
  });
}

function sink(
  topic: string,
  group: string,
  extra: string[] = [],
  env: Record<string, string> = {},
) {
  return startTask("sink", [
    "--topics",
    topic,
    "--map",
    `${topic}=security_events`,
    "--group",
    group,
    "--metrics-port",
    "0",
    // Kafka's minimum: a killed member's partitions move after 6 s.
    "--session-timeout",
    "6s",
    ...extra,
  ], { env: { LOG_LEVEL: "info", ...env } });
}

const T = { sanitizeOps: false, sanitizeResources: false };

// --- tests -----------------------------------------------------------------

sinkTest({
  ...T,
  name:
    "sink: 200k events arrive exactly once, replicas agree, lag 0, metrics served",
  fn: async () => {
    const N = 200_000;
    const topic = await freshTopic("sink1");
    const group = `sink-t1-${crypto.randomUUID().slice(0, 6)}`;
    await kcatProduce(topic, securityEvents(N, 1));
    const p = startTask("sink", [
      "--topics",
      topic,
      "--map",
      `${topic}=security_events`,
      "--group",
      group,
    ]);
    try {
      await pollUntil(
        async () => (await countRows("security_events", topic)) >= N,
        {
          what: `${N} rows`,
          timeoutMs: 120_000,
        },
      );
      const counts = await replicasAgree("security_events", topic, N);
      assert.ok(counts[0] > 0 && counts[2] > 0, "both shards hold rows");
      const [u] = await chQuery<{ c: string; u: string }>(
        `SELECT count() AS c, uniqExact(event_id) AS u FROM analytics.security_events WHERE _topic = '${topic}'`,
      );
      assert.equal(Number(u.c), N);
      assert.equal(Number(u.u), N);
      await pollUntil(async () => (await groupLag(group, topic)) === 0, {
        what: "consumer lag 0",
      });
      const metrics: string = await pollUntil(async () => {
        const text = await (await fetch("http://127.0.0.1:19466/metrics"))
          .text();
        return /sink_consumer_lag\{[^}]*partition="0"[^}]*\} 0/.test(text)
          ? text
          : undefined;
      }, { what: "sink metrics with lag 0", timeoutMs: 20_000 });
      for (
        const name of [
          "sink_messages_in_total",
          "sink_rows_out_total",
          "sink_batches_total",
          "sink_insert_duration_seconds_bucket",
          "sink_batch_rows_bucket",
          "sink_dead_letters_total",
          "sink_consumer_lag",
          "sink_paused",
        ]
      ) assert.ok(metrics.includes(name), `metric ${name}`);
      const m = /sink_rows_out_total\{[^}]*table="security_events"[^}]*\} (\d+)/
        .exec(metrics);
      assert.equal(Number(m?.[1]), N);
    } finally {
      assert.equal(await stopTask(p), 0);
    }
  },
});

// The decode workers (default 2) and the in-thread path (0).
for (const workers of [2, 0]) {
  sinkTest({
    ...T,
    name:
      `sink: kill -9 three times during 300k → exactly 300k, no duplicates (--workers ${workers})`,
    fn: async () => {
      const N = 300_000;
      const topic = await freshTopic(`sink2w${workers}`);
      const group = `sink-t2-${crypto.randomUUID().slice(0, 6)}`;
      await kcatProduce(topic, securityEvents(N, 2));
      const r = prng(Date.now());
      // Smaller batches: more flushes, so the kills land mid-flush more often.
      const extra = ["--batch-rows", "20000", "--workers", String(workers)];
      let reformed = 0;
      for (let k = 0; k < 3; k++) {
        const p = sink(topic, group, extra);
        const before = await countRows("security_events", topic);
        // Wait for progress, then kill at a random moment.
        await pollUntil(
          async () => (await countRows("security_events", topic)) > before,
          { what: "progress before kill", timeoutMs: 60_000, intervalMs: 50 },
        );
        await new Promise((res) => setTimeout(res, 100 + r() * 1500));
        p.kill("SIGKILL");
        reformed += (await p.wait()).stderr.split("re-forming a batch").length -
          1;
        const now = await countRows("security_events", topic);
        assert.ok(now < N, `kill ${k + 1} landed before the end (${now})`);
      }
      const p = sink(topic, group, extra);
      try {
        await pollUntil(async () => (await groupLag(group, topic)) === 0, {
          what: "everything committed",
          timeoutMs: 120_000,
        });
        const [u] = await chQuery<{ c: string; u: string; o: string }>(
          `SELECT count() AS c, uniqExact(event_id) AS u, uniqExact(_partition, _offset) AS o FROM analytics.security_events WHERE _topic = '${topic}'`,
        );
        assert.equal(Number(u.c), N, "no loss, no duplicates");
        assert.equal(Number(u.u), N);
        assert.equal(Number(u.o), N);
        await replicasAgree("security_events", topic, N);
      } finally {
        assert.equal(await stopTask(p), 0);
      }
      reformed += p.stderrText().split("re-forming a batch").length - 1;
      console.log(`partition ranges re-formed from the manifest: ${reformed}`);
    },
  });
}

// Rows decoded by the workers and in-thread are byte-identical: a range
// re-formed by the other path still de-duplicates.
for (const [crashWith, recoverWith] of [[2, 2], [2, 0]]) {
  sinkTest({
    ...T,
    name:
      `sink: a crash between insert and commit is re-formed from the manifest and de-duplicated (--workers ${crashWith}, then ${recoverWith})`,
    fn: async () => {
      // A fetch brings up to 8 MiB (~22k events) per partition into one
      // range, and a flush takes one range per partition: 200k (3 fetches per
      // partition) leaves rows after the 2nd flush however fast decoding is.
      const N = 200_000;
      const topic = await freshTopic(`sink2b${crashWith}${recoverWith}`);
      const group = `sink-t2b-${crypto.randomUUID().slice(0, 6)}`;
      await kcatProduce(topic, securityEvents(N, 22));
      // Dies right after ClickHouse acknowledged its 2nd flush, before the
      // offsets of that flush are committed: the worst moment.
      const crashed = sink(topic, group, [
        "--batch-rows",
        "10000",
        "--workers",
        String(crashWith),
      ], {
        SINK_TEST_FAILPOINT: "crash-after-inserts:2",
      });
      const r = await crashed.wait();
      assert.equal(r.code, 86, r.stderr.slice(-500));
      const inserted = await countRows("security_events", topic);
      assert.ok(inserted > 0 && inserted < N, `partial run (${inserted})`);
      const p = sink(topic, group, [
        "--batch-rows",
        "10000",
        "--workers",
        String(recoverWith),
      ]);
      try {
        await pollUntil(async () => (await groupLag(group, topic)) === 0, {
          what: "everything committed",
          timeoutMs: 60_000,
        });
        assert.match(p.stderrText(), /re-forming a batch from the manifest/);
        const [u] = await chQuery<{ c: string; u: string }>(
          `SELECT count() AS c, uniqExact(event_id) AS u FROM analytics.security_events WHERE _topic = '${topic}'`,
        );
        assert.equal(Number(u.c), N, "the re-inserted batch was dropped");
        assert.equal(Number(u.u), N);
      } finally {
        assert.equal(await stopTask(p), 0);
      }
    },
  });
}

sinkTest({
  ...T,
  name:
    "sink: a ClickHouse replica stopped mid-run → counts exact, lag returns to 0",
  fn: async () => {
    const N = 150_000;
    const topic = await freshTopic("sink3");
    const group = `sink-t3-${crypto.randomUUID().slice(0, 6)}`;
    const pid = Number(
      (await Deno.readTextFile(`${ROOT}.cluster/clickhouse/ch1/pid`)).trim(),
    );
    const signal = async (sig: string) => {
      const o = await new Deno.Command("kill", {
        args: [`-${sig}`, String(pid)],
      })
        .output();
      assert.equal(o.code, 0, `kill -${sig} ${pid}`);
    };
    await kcatProduce(topic, securityEvents(N / 2, 3));
    const p = sink(topic, group, [
      "--batch-rows",
      "20000",
      "--insert-timeout",
      "3s",
    ]);
    let stopped = false;
    try {
      await pollUntil(
        async () => (await countRows("security_events", topic)) > 0,
        {
          what: "first rows",
          timeoutMs: 60_000,
          intervalMs: 50,
        },
      );
      // ch1 is shard 1's preferred replica: freeze it mid-run.
      await signal("STOP");
      stopped = true;
      await kcatProduce(topic, securityEvents(N / 2, 33));
      // Shard 1 continues on ch2 while ch1 is frozen.
      await pollUntil(
        async () =>
          (await countRows("security_events_local", topic, NODES[1].url)) > 0 &&
          (await groupLag(group, topic)) === 0,
        { what: "all committed while ch1 is down", timeoutMs: 120_000 },
      );
      await signal("CONT");
      stopped = false;
      const counts = await replicasAgree("security_events", topic, N);
      assert.equal(counts[0] + counts[2], N);
      assert.equal(await groupLag(group, topic), 0);
      const [u] = await chQuery<{ u: string }>(
        `SELECT uniqExact(event_id) AS u FROM analytics.security_events WHERE _topic = '${topic}'`,
      );
      assert.equal(Number(u.u), N);
    } finally {
      if (stopped) await signal("CONT");
      assert.equal(await stopTask(p), 0);
    }
    // The sink really met the frozen replica and moved to the other one.
    assert.match(p.stderrText(), /switching replica/);
  },
});

sinkTest({
  ...T,
  name:
    "sink: invalid rows go to dead_letter and dlq.sink with reasons; valid rows all arrive",
  fn: async () => {
    const topic = await freshTopic("sink4");
    const group = `sink-t4-${crypto.randomUUID().slice(0, 6)}`;
    const valid = securityEvents(3_000, 4);
    const good = JSON.parse(valid[0]);
    const invalid = [
      { text: "this is { not json", reason: /invalid JSON/ },
      { text: JSON.stringify([1, 2]), reason: /not a JSON object/ },
      {
        text: JSON.stringify({ ...good, src_port: "eighty" }),
        reason: /field "src_port": expected an integer/,
      },
      {
        text: JSON.stringify({ ...good, event_id: undefined }),
        reason: /missing required field "event_id"/,
      },
      {
        text: JSON.stringify({ ...good, severity: "apocalyptic" }),
        reason: /field "severity": expected one of/,
      },
      {
        text: JSON.stringify({ ...good, timestamp: "yesterday" }),
        reason: /field "timestamp"/,
      },
    ];
    // Interleave: invalid messages surrounded by valid ones.
    const lines: string[] = [];
    valid.forEach((v, i) => {
      lines.push(v);
      if (i % 500 === 250) lines.push(invalid[(i - 250) / 500].text);
    });
    await kcatProduce(topic, lines);
    const p = sink(topic, group);
    try {
      await pollUntil(
        async () =>
          (await countRows("security_events", topic)) === valid.length &&
          (await countRows("dead_letter", topic)) === invalid.length,
        { what: "valid rows and dead letters", timeoutMs: 60_000 },
      );
      // The count above may have been read from one replica per shard and
      // the rows below from the other, not yet replicated one: poll until
      // every dead letter is there, then check each.
      type Dl = {
        reason: string;
        original: string;
        source: string;
        pipeline: string;
      };
      let dl: Dl[] = [];
      await pollUntil(
        async () => {
          dl = await chQuery<Dl>(
            `SELECT reason, original, source, pipeline FROM analytics.dead_letter WHERE _topic = '${topic}'`,
          );
          return invalid.every((inv) =>
            dl.some((d) => d.original === inv.text)
          );
        },
        { what: "every dead letter readable", timeoutMs: 30_000 },
      );
      for (const inv of invalid) {
        const row = dl.find((d) => d.original === inv.text);
        assert.ok(row, `dead letter for ${inv.text.slice(0, 40)}`);
        assert.match(row.reason, inv.reason);
        assert.match(
          row.source,
          new RegExp(`^${topic.replaceAll(".", "\\.")}:\\d:\\d+$`),
        );
        assert.equal(row.pipeline, "sink");
      }
      // The same dead letters on the dlq.sink topic (shared contract shape).
      const found = await readDlq(topic, invalid.length);
      for (const inv of invalid) {
        const m = found.find((d) => d.original === inv.text);
        assert.ok(m, "dlq.sink message");
        assert.match(m.reason, inv.reason);
        assert.equal(m.pipeline, "sink");
        assert.ok(!Number.isNaN(Date.parse(m.ts)));
      }
    } finally {
      assert.equal(await stopTask(p), 0);
    }
  },
});

/** Reads dlq.sink (from the end minus a window) for messages of `topic`. */
async function readDlq(topic: string, expected: number) {
  const out: Array<
    {
      reason: string;
      source: string;
      original: string;
      pipeline: string;
      ts: string;
    }
  > = [];
  const consumer = testKafka().consumer({
    groupId: `test-dlq-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "dlq.sink", fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = JSON.parse(message.value!.toString());
        if (String(v.source).startsWith(`${topic}:`)) out.push(v);
        await Promise.resolve();
      },
    });
    await pollUntil(() => out.length >= expected, {
      what: `${expected} dlq.sink messages`,
      timeoutMs: 60_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

sinkTest({
  ...T,
  name: "sink: two processes in one group split partitions, exact total",
  fn: async () => {
    const N = 100_000;
    const topic = await freshTopic("sink5", 4);
    const group = `sink-t5-${crypto.randomUUID().slice(0, 6)}`;
    const a = sink(topic, group);
    const b = sink(topic, group);
    try {
      const assigned = (p: TaskProcess) => {
        const lines = p.stderrText().split("\n").filter((l) =>
          l.includes('"partitions assigned"')
        );
        const last = lines.at(-1);
        if (!last) return [];
        const a = JSON.parse(last).assignment[topic] as string | undefined;
        return a ? a.split(",").map(Number) : [];
      };
      await pollUntil(
        () => {
          const x = assigned(a), y = assigned(b);
          return x.length > 0 && y.length > 0 && x.length + y.length === 4 &&
            x.every((q) => !y.includes(q));
        },
        { what: "both members own partitions", timeoutMs: 60_000 },
      );
      await kcatProduce(topic, securityEvents(N, 5));
      await pollUntil(async () => (await groupLag(group, topic)) === 0, {
        what: "everything committed",
        timeoutMs: 120_000,
      });
      // Committed means acknowledged by one replica per shard; a read may
      // meet the other before it fetched the last part: poll, then exact.
      await pollUntil(
        async () => (await countRows("security_events", topic)) >= N,
        { what: "every committed row readable", timeoutMs: 30_000 },
      );
      assert.equal(await countRows("security_events", topic), N);
      const [u] = await chQuery<{ u: string }>(
        `SELECT uniqExact(event_id) AS u FROM analytics.security_events WHERE _topic = '${topic}'`,
      );
      assert.equal(Number(u.u), N);
      // Both processes inserted (their logs name their own partitions).
      const parts = await chQuery<{ p: number }>(
        `SELECT DISTINCT _partition AS p FROM analytics.security_events WHERE _topic = '${topic}'`,
      );
      assert.equal(parts.length, 4);
    } finally {
      assert.equal(await stopTask(a), 0);
      assert.equal(await stopTask(b), 0);
    }
  },
});

sinkTest({
  ...T,
  name: "sink: with defaults no table gets more than one insert per second",
  fn: async () => {
    const topic = await freshTopic("sink6");
    const group = `sink-t6-${crypto.randomUUID().slice(0, 6)}`;
    const p = sink(topic, group);
    try {
      // Several produce bursts while the sink runs, with invalid lines so
      // the dead_letter table is exercised too.
      let n = 0;
      for (let i = 0; i < 6; i++) {
        const lines = securityEvents(20_000, 60 + i);
        lines.push("{broken");
        n += 20_000;
        await kcatProduce(topic, lines);
        await new Promise((r) => setTimeout(r, 300));
      }
      await pollUntil(
        async () => (await countRows("security_events", topic)) === n,
        {
          what: `${n} rows`,
          timeoutMs: 60_000,
        },
      );
      let inserts = 0;
      for (const node of NODES) {
        await chQuery("SYSTEM FLUSH LOGS", node.url);
        // query_log appears with a node's first logged query.
        const [e] = await chQuery<{ result: number }>(
          "EXISTS TABLE system.query_log",
          node.url,
        );
        if (!Number(e.result)) continue;
        const rows = await chQuery<{ t: string; s: string; c: string }>(
          // One insert per base id: an attempt retried after a lost answer
          // (\`<id>-<attempt>\`, deduplicated by its token) is the same insert.
          `SELECT splitByChar('.', query_id)[2] AS t, toString(query_start_time) AS s,
                  uniqExact(replaceRegexpOne(query_id, '-[0-9]+$', '')) AS c
           FROM system.query_log
           WHERE type = 2 AND query_id LIKE '${group}.%'
           GROUP BY t, s ORDER BY c DESC`,
          node.url,
        );
        inserts += rows.reduce((k, r) => k + Number(r.c), 0);
        for (const r of rows) {
          assert.equal(
            Number(r.c),
            1,
            `${node.name}: ${r.c} inserts into ${r.t} at ${r.s}`,
          );
        }
      }
      assert.ok(inserts >= 2, `inserts were logged (${inserts})`);
    } finally {
      assert.equal(await stopTask(p), 0);
    }
  },
});

// --- CDC mirror (issue 6 part B) -------------------------------------------

/** A Debezium envelope (JSON, schemas disabled) for users. */
function change(
  op: "c" | "u" | "d" | "r" | "t",
  lsn: number,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): string {
  return JSON.stringify({
    before,
    after,
    source: {
      version: "2.x",
      connector: "postgresql",
      name: "customers",
      ts_ms: 1,
      snapshot: op === "r" ? "true" : "false",
      db: "shop",
      sequence: JSON.stringify([String(lsn - 1), String(lsn)]),
      schema: "public",
      table: "users",
      txId: 1,
      lsn,
      xmin: null,
    },
    op,
    ts_ms: 1,
    transaction: null,
  });
}

sinkTest({
  ...T,
  name:
    "sink --mode cdc: Debezium changes → pg_users FINAL equals the expected table",
  fn: async () => {
    const topic = await freshTopic("sinkcdc");
    const group = `sink-cdc-${crypto.randomUUID().slice(0, 6)}`;
    const base = 2_000_000_000 + Math.floor(Math.random() * 1e8);
    const expected = new Map<number, Record<string, unknown>>();
    const producer = testKafka().producer();
    await producer.connect();
    const msgs: Array<{ key: string; value: string | null }> = [];
    let lsn = 1_000;
    const user = (id: number, v: number) => ({
      id,
      name: `name ${id} v${v}`,
      email: v % 3 ? `u${id}@example.com` : null,
      created_at: 1_763_700_000_000_000 + id * 1_000_123,
    });
    // Snapshot rows, then inserts, updates and deletes.
    for (let i = 0; i < 200; i++) {
      const id = base + i;
      const row = user(id, 0);
      msgs.push({
        key: JSON.stringify({ id }),
        value: change(i < 100 ? "r" : "c", lsn += 8, null, row),
      });
      expected.set(id, row);
    }
    for (let i = 0; i < 200; i += 3) {
      const id = base + i;
      const row = user(id, 1 + (i % 5));
      msgs.push({
        key: JSON.stringify({ id }),
        value: change("u", lsn += 8, expected.get(id)!, row),
      });
      expected.set(id, row);
    }
    for (let i = 0; i < 200; i += 7) {
      const id = base + i;
      msgs.push({
        key: JSON.stringify({ id }),
        value: change("d", lsn += 8, {
          id,
          name: null,
          email: null,
          created_at: null,
        }, null),
      });
      msgs.push({ key: JSON.stringify({ id }), value: null }); // tombstone
      expected.delete(id);
    }
    msgs.push({ key: JSON.stringify({ id: base }), value: "not json" });
    await producer.send({ topic, messages: msgs, acks: -1 });
    await producer.disconnect();

    const p = startTask("sink", [
      "--mode",
      "cdc",
      "--topics",
      topic,
      "--map",
      `${topic}=pg_users`,
      "--group",
      group,
      "--metrics-port",
      "0",
    ]);
    try {
      await pollUntil(async () => (await groupLag(group, topic)) === 0, {
        what: "changes applied",
        timeoutMs: 60_000,
      });
      const rows = await chQuery<
        {
          id: string;
          name: string | null;
          email: string | null;
          created_at_us: string | null;
        }
      >(
        `SELECT id, name, email, created_at_us FROM analytics.pg_users FINAL
         WHERE _topic = '${topic}' AND _deleted = 0 ORDER BY id`,
      );
      const want = [...expected.values()].sort((a, b) =>
        (a.id as number) - (b.id as number)
      );
      assert.equal(rows.length, want.length);
      rows.forEach((r, i) => {
        assert.equal(Number(r.id), want[i].id);
        assert.equal(r.name, want[i].name);
        assert.equal(r.email, want[i].email);
        assert.equal(Number(r.created_at_us), want[i].created_at);
      });
      assert.equal(await countRows("dead_letter", topic), 1);
    } finally {
      assert.equal(await stopTask(p), 0);
    }
  },
});
