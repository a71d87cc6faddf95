/**
 * Acceptance tests of `deno task generate` (issue 3), run as the task with
 * its own permissions, against the real cluster where needed.
 */
import assert from "node:assert/strict";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import {
  deleteTopics,
  ensureTopics,
  pollUntil,
  readTopic,
  ROOT,
  runTask,
  startTask,
  tempDataDir,
  testPg,
  topicMessageCount,
} from "./_helpers.ts";

const SERVICES = ["auth", "order", "payment", "notify"] as const;

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

function validator(name: string): ValidateFunction<Json> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv.compile<Json>(
    JSON.parse(
      Deno.readTextFileSync(`${ROOT}schemas/events/${name}.schema.json`),
    ),
  );
}

/** The JSON `summary` log line of a run. */
function summaryOf(stderr: string): Json {
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (o.msg === "summary") return o;
  }
  throw new Error(`no summary line in stderr:\n${stderr.slice(-2000)}`);
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.length > 0);
}

/** Runs the generator to completion; fails with its stderr on a bad exit. */
async function generate(
  args: string[],
  opts: { env?: Record<string, string>; expectCode?: number } = {},
) {
  const r = await runTask("generate", ["--metrics-port", "0", ...args], opts);
  assert.equal(
    r.code,
    opts.expectCode ?? 0,
    `exit ${r.code}:\n${r.stderr.slice(-3000)}`,
  );
  return r;
}

/** Message count of a topic, retrying transient metadata errors. */
async function messageCount(topic: string): Promise<number> {
  let n = -1;
  await pollUntil(async () => {
    n = await topicMessageCount(topic);
    return true;
  }, { timeoutMs: 20_000, what: `offsets of ${topic}` });
  return n;
}

async function ndjsonFiles(
  dir: string,
): Promise<Array<{ name: string; text: string; size: number }>> {
  const out = [];
  for await (const e of Deno.readDir(dir)) {
    const text = await Deno.readTextFile(`${dir}/${e.name}`);
    out.push({
      name: e.name,
      text,
      size: (await Deno.stat(`${dir}/${e.name}`)).size,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

Deno.test("output of all three kinds validates against the JSON schemas", async () => {
  for (
    const [kind, schema, extra] of [
      ["security", "security_event", []],
      ["http", "http_log", []],
      ["cdc", "cdc_change", ["--mix", "insert=40,update=35,delete=25"]],
    ] as const
  ) {
    const validate = validator(schema);
    const r = await generate([
      "--kind",
      kind,
      "--to",
      "stdout",
      "--count",
      "20000",
      "--rate",
      "0",
      ...extra,
    ]);
    const ls = lines(r.stdout);
    assert.equal(ls.length, 20000, kind);
    for (const l of ls) {
      const ev = JSON.parse(l);
      assert.ok(
        validate(ev),
        `${kind}: ${JSON.stringify(validate.errors)} in ${l}`,
      );
      if (kind === "http") {
        assert.equal(Math.round(ev.latency_ms * 100) / 100, ev.latency_ms);
      }
    }
    // No progress line when stderr is not a terminal.
    assert.ok(!r.stderr.includes("\r"), "progress line on a non-TTY");
  }
});

Deno.test("http mix and error rates match the configured ones over 100k events", async () => {
  const mix = { auth: 50, order: 25, payment: 15, notify: 10 };
  const errors = { auth: 0.01, order: 0.04, payment: 0.1, notify: 0.02 };
  const warns = { auth: 0.12, order: 0.05, payment: 0.03, notify: 0.01 };
  const pairs = (o: Record<string, number>) =>
    Object.entries(o).map(([k, v]) => `${k}=${v}`).join(",");
  const n = 100_000;
  const r = await generate([
    "--kind",
    "http",
    "--to",
    "stdout",
    "--count",
    String(n),
    "--rate",
    "0",
    "--service-mix",
    pairs(mix),
    "--error-rates",
    pairs(errors),
    "--warn-rates",
    pairs(warns),
  ]);
  const per: Record<
    string,
    { n: number; err: number; warn: number; lat: number[] }
  > = {};
  for (const s of SERVICES) per[s] = { n: 0, err: 0, warn: 0, lat: [] };
  const ls = lines(r.stdout);
  assert.equal(ls.length, n);
  for (const l of ls) {
    const e = JSON.parse(l);
    const p = per[e.service];
    p.n++;
    if (e.status >= 500) p.err++;
    else if (e.status >= 400) p.warn++;
    p.lat.push(e.latency_ms);
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  for (const s of SERVICES) {
    const share = mix[s] / total;
    const sd = Math.sqrt((share * (1 - share)) / n);
    assert.ok(
      Math.abs(per[s].n / n - share) < 4 * sd + 1e-9,
      `${s} share ${per[s].n / n} vs ${share}`,
    );
    for (
      const [what, rate, got] of [
        ["error", errors[s], per[s].err],
        ["warn", warns[s], per[s].warn],
      ] as const
    ) {
      const sdr = Math.sqrt((rate * (1 - rate)) / per[s].n);
      assert.ok(
        Math.abs(got / per[s].n - rate) < 4 * sdr + 1e-9,
        `${s} ${what} rate ${got / per[s].n} vs ${rate}`,
      );
    }
    // Long-tailed latency: p99 well above the median.
    const lat = per[s].lat.sort((a, b) => a - b);
    assert.ok(
      lat[Math.floor(lat.length * 0.99)] > 3 * lat[Math.floor(lat.length / 2)],
      `${s} tail`,
    );
  }
});

Deno.test("--seed gives byte-identical output; another seed differs", async () => {
  const args = (seed: string, kind = "security") => [
    "--kind",
    kind,
    "--to",
    "stdout",
    "--count",
    "30000",
    "--rate",
    "0",
    "--seed",
    seed,
  ];
  for (const kind of ["security", "http", "cdc"]) {
    const a = await generate(args("reproducible-1", kind));
    const b = await generate(args("reproducible-1", kind));
    const c = await generate(args("reproducible-2", kind));
    assert.ok(a.stdout.length > 0);
    assert.ok(a.stdout === b.stdout, `${kind}: same seed, different output`);
    assert.notEqual(
      a.stdout,
      c.stdout,
      `${kind}: different seeds, same output`,
    );
    // Seeded time starts at the documented epoch.
    assert.match(
      lines(a.stdout)[0],
      /"timestamp":"2025-01-01T00:00:00\.\d{3}Z"/,
    );
  }
  // Files too: same seed → same concatenated bytes.
  const texts: string[] = [];
  for (let i = 0; i < 2; i++) {
    const dir = await tempDataDir("gen-seed");
    await generate([
      ...args("file-seed", "http").slice(0, 2),
      "--to",
      "file",
      "--dir",
      dir,
      "--count",
      "20000",
      "--rate",
      "0",
      "--seed",
      "file-seed",
      "--max-file-bytes",
      "1MiB",
    ]);
    texts.push((await ndjsonFiles(dir)).map((f) => f.text).join(""));
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(texts[0].length > 1_000_000 && texts[0] === texts[1]);
});

Deno.test({
  name:
    "--to kafka: security events land exactly once in the topic, keyed by src_ip",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = `test.gen-sec.${crypto.randomUUID().slice(0, 8)}`;
    await ensureTopics([topic]);
    try {
      const n = 6000;
      const args = [
        "--kind",
        "security",
        "--count",
        String(n),
        "--rate",
        "0",
        "--seed",
        "kafka-sec",
      ];
      const r = await generate([
        ...args,
        "--to",
        "kafka",
        "--topic",
        topic,
        "--batch-size",
        "500",
      ]);
      const s = summaryOf(r.stderr);
      assert.equal(s.events, n);
      assert.equal(s.per_topic[topic], n);
      assert.equal(await messageCount(topic), n);
      const msgs = await readTopic(topic);
      const expected = lines(
        (await generate([...args, "--to", "stdout"])).stdout,
      );
      assert.equal(msgs.length, n);
      const ids = new Set<string>();
      for (const m of msgs) {
        const ev = JSON.parse(m.value!);
        assert.equal(m.key, ev.src_ip);
        ids.add(ev.event_id);
      }
      assert.equal(ids.size, n, "duplicates in Kafka");
      for (const l of expected) assert.ok(ids.has(JSON.parse(l).event_id));
    } finally {
      await deleteTopics([topic]);
    }
  },
});

Deno.test({
  name:
    "--to kafka: http logs go to <prefix>.<service>, errors also to <prefix>.error, exact counts",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const prefix = `test.gen-http.${crypto.randomUUID().slice(0, 8)}`;
    const topics = [
      ...SERVICES.map((s) => `${prefix}.${s}`),
      `${prefix}.error`,
    ];
    await ensureTopics(topics);
    try {
      const n = 8000;
      const args = [
        "--kind",
        "http",
        "--count",
        String(n),
        "--rate",
        "0",
        "--seed",
        "kafka-http",
        "--error-rates",
        "auth=0.05,order=0.05,payment=0.1,notify=0.05",
      ];
      const r = await generate([
        ...args,
        "--to",
        "kafka",
        "--topic-prefix",
        prefix,
      ]);
      // What should be where, from the same seed on stdout.
      const want: Record<string, number> = Object.fromEntries(
        topics.map((t) => [t, 0]),
      );
      const errorIds = new Set<string>();
      for (
        const l of lines((await generate([...args, "--to", "stdout"])).stdout)
      ) {
        const e = JSON.parse(l);
        want[`${prefix}.${e.service}`]++;
        if (e.level === "error") {
          want[`${prefix}.error`]++;
          errorIds.add(e.event_id);
        }
      }
      assert.ok(want[`${prefix}.error`] > 100);
      const s = summaryOf(r.stderr);
      assert.equal(s.events, n);
      for (const t of topics) {
        assert.equal(await messageCount(t), want[t], t);
        assert.equal(s.per_topic[t], want[t], `summary ${t}`);
      }
      const errs = await readTopic(`${prefix}.error`);
      for (const m of errs) {
        const e = JSON.parse(m.value!);
        assert.equal(e.level, "error");
        assert.ok(e.status >= 500);
        assert.equal(m.key, e.trace_id);
        assert.ok(
          errorIds.delete(e.event_id),
          "unexpected or duplicate error event",
        );
      }
      assert.equal(errorIds.size, 0);
    } finally {
      await deleteTopics(topics);
    }
  },
});

Deno.test({
  name:
    "--to kafka: a missing topic is one clear error; --create-topics creates it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = `test.gen-missing.${crypto.randomUUID().slice(0, 8)}`;
    try {
      const r = await generate([
        "--to",
        "kafka",
        "--topic",
        topic,
        "--count",
        "10",
      ], { expectCode: 1 });
      assert.match(r.stderr, /Kafka topics missing/);
      assert.ok(!r.stderr.includes("    at "), "stack trace printed");
      await generate([
        "--to",
        "kafka",
        "--topic",
        topic,
        "--count",
        "100",
        "--create-topics",
      ]);
      assert.equal(await messageCount(topic), 100);
    } finally {
      await deleteTopics([topic]);
    }
  },
});

/** Counts our changes in WAL decoded by test_decoding. */
function countWal(data: string[], tag: string) {
  const ours = { users: new Set<number>(), orders: new Set<number>() };
  const counts: Record<string, Record<string, number>> = {
    users: { insert: 0, update: 0, delete: 0 },
    orders: { insert: 0, update: 0, delete: 0 },
  };
  const txSizes: number[] = [];
  let inTx = 0;
  for (const d of data) {
    if (d.startsWith("BEGIN")) inTx = 0;
    else if (d.startsWith("COMMIT")) {
      if (inTx > 0) txSizes.push(inTx);
    } else {
      const m =
        /^table public\.(users|orders): (INSERT|UPDATE|DELETE): id\[integer\]:(\d+)/
          .exec(d);
      if (!m) continue;
      const table = m[1] as "users" | "orders";
      const id = Number(m[3]);
      if (m[2] === "INSERT" && d.includes(` #${tag}'`)) ours[table].add(id);
      if (!ours[table].has(id)) continue;
      counts[table][m[2].toLowerCase()]++;
      inTx++;
    }
  }
  return { counts, txSizes };
}

Deno.test({
  name:
    "--kind cdc --to postgres: exact inserts/updates/deletes counted in PostgreSQL, FK intact",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const pg = await testPg();
    const slot = `gen_test_${crypto.randomUUID().slice(0, 8)}`;
    const tag = `t${crypto.randomUUID().slice(0, 8)}`;
    try {
      // A temporary logical slot sees every change PostgreSQL commits from now.
      await pg.query(
        "SELECT pg_create_logical_replication_slot($1, 'test_decoding', true)",
        [slot],
      );
      const r = await generate([
        "--kind",
        "cdc",
        "--to",
        "postgres",
        "--count",
        "800",
        "--mix",
        "insert=50,update=30,delete=20",
        "--max-tx-size",
        "6",
        "--rate",
        "0",
        "--tag",
        tag,
      ], { env: { PGPASSWORD: "postgres" } });
      const s = summaryOf(r.stderr);
      assert.deepEqual(
        [s.cdc.inserts, s.cdc.updates, s.cdc.deletes, s.cdc.skipped, s.errors],
        [400, 240, 160, 0, 0],
      );
      const res = await pg.query<{ data: string }>(
        "SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL)",
        [slot],
      );
      const wal = countWal(res.rows.map((x) => x.data), tag);
      const sum = (op: string) => wal.counts.users[op] + wal.counts.orders[op];
      assert.deepEqual([sum("insert"), sum("update"), sum("delete")], [
        400,
        240,
        160,
      ]);
      assert.deepEqual(wal.counts, s.cdc.by_table);
      assert.equal(wal.txSizes.length, s.cdc.transactions);
      assert.ok(
        Math.max(...wal.txSizes) > 1 && Math.min(...wal.txSizes) === 1,
        "tx sizes vary",
      );
      assert.ok(wal.counts.users.delete > 0 && wal.counts.orders.delete > 0);
      // What is left is consistent: survivors = inserts − deletes, no orphans.
      const left = await pg.query<
        { users: string; orders: string; orphans: string }
      >(
        `SELECT (SELECT count(*) FROM users WHERE name LIKE $1) AS users,
                (SELECT count(*) FROM orders WHERE product_name LIKE $1) AS orders,
                (SELECT count(*) FROM orders o WHERE o.product_name LIKE $1
                   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)) AS orphans`,
        [`% #${tag}`],
      );
      const row = left.rows[0];
      assert.equal(
        Number(row.users),
        wal.counts.users.insert - wal.counts.users.delete,
      );
      assert.equal(
        Number(row.orders),
        wal.counts.orders.insert - wal.counts.orders.delete,
      );
      assert.equal(Number(row.orphans), 0);
    } finally {
      // Leave the shared database as we found it (orders first: the FK).
      for (
        const sql of [
          "DELETE FROM orders WHERE product_name LIKE $1",
          "DELETE FROM users WHERE name LIKE $1",
        ]
      ) await pg.query(sql, [`% #${tag}`]).catch(() => {});
      await pg.query("SELECT pg_drop_replication_slot($1)", [slot]).catch(
        () => {},
      );
      await pg.end();
    }
  },
});

Deno.test("rotation by size: several files, none larger than the limit, no line lost or split", async () => {
  const dir = await tempDataDir("gen-rotate");
  try {
    const n = 20_000;
    const r = await generate([
      "--kind",
      "security",
      "--to",
      "file",
      "--dir",
      dir,
      "--max-file-bytes",
      "64KiB",
      "--count",
      String(n),
      "--rate",
      "0",
    ]);
    const files = await ndjsonFiles(dir);
    assert.ok(files.length > 10, `${files.length} files`);
    assert.equal(summaryOf(r.stderr).files, files.length);
    let count = 0;
    const ids = new Set<string>();
    for (const f of files) {
      assert.match(f.name, /^security-\d{8}T\d{6}-\d{6}\.ndjson$/);
      assert.ok(f.size <= 64 * 1024, `${f.name} has ${f.size} bytes`);
      assert.ok(f.text.endsWith("\n"));
      for (const l of lines(f.text)) {
        ids.add(JSON.parse(l).event_id);
        count++;
      }
    }
    assert.equal(count, n);
    assert.equal(ids.size, n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rotation by age, and SIGTERM flushes: every counted event is in the files", async () => {
  const dir = await tempDataDir("gen-age");
  try {
    const p = startTask("generate", [
      "--metrics-port",
      "0",
      "--kind",
      "http",
      "--to",
      "file",
      "--dir",
      dir,
      "--max-file-age",
      "1s",
      "--rate",
      "3000",
    ]);
    await pollUntil(async () => (await ndjsonFiles(dir)).length >= 3, {
      timeoutMs: 15_000,
      what: "three age-rotated files",
    });
    p.kill("SIGTERM");
    const r = await p.wait();
    assert.equal(r.code, 0, r.stderr);
    const s = summaryOf(r.stderr);
    assert.equal(s.stopped_by, "signal");
    const files = await ndjsonFiles(dir);
    const total = files.reduce((n, f) => n + lines(f.text).length, 0);
    assert.ok(files.every((f) => f.text.endsWith("\n")));
    assert.equal(total, s.events);
    assert.ok(total > 3000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--rate paces the output; --progress forces the progress line", async () => {
  const t0 = performance.now();
  const r = await generate([
    "--to",
    "stdout",
    "--rate",
    "2000",
    "--count",
    "3000",
    "--progress",
  ]);
  const secs = (performance.now() - t0) / 1000;
  assert.equal(lines(r.stdout).length, 3000);
  assert.ok(
    secs >= 1.2,
    `3000 events at 2000/s took only ${secs.toFixed(2)} s`,
  );
  assert.ok(r.stderr.includes("\r"), "no progress line with --progress");
});

Deno.test("bad flags: usage on stderr, exit code 2, no stack trace", async () => {
  for (
    const args of [
      ["--kind", "dns"],
      ["--rate", "fast"],
      ["--frobnicate"],
      ["--to", "postgres"],
      ["--kind", "cdc", "--to", "kafka"],
      ["--kind", "cdc", "--count", "10", "--mix", "insert=1,delete=9"],
      ["--error-rates", "auth=2"],
      ["--max-file-bytes", "lots"],
    ]
  ) {
    const r = await runTask("generate", ["--metrics-port", "0", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /Usage: deno task generate/, args.join(" "));
    assert.ok(
      !r.stderr.includes("    at "),
      `stack trace for ${args.join(" ")}`,
    );
    assert.equal(r.stdout, "");
  }
});

Deno.test({
  name: "/metrics exposes events, bytes and errors counters",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    try {
      Deno.listen({ hostname: "127.0.0.1", port: 19464 }).close();
    } catch {
      await t.step({
        name: "port 19464 busy (a generator is running): skipped",
        ignore: true,
        fn: () => {},
      });
      return;
    }
    const dir = await tempDataDir("gen-metrics");
    const p = startTask("generate", [
      "--to",
      "file",
      "--dir",
      dir,
      "--rate",
      "1000",
      "--duration",
      "20s",
    ]);
    try {
      const text = await pollUntil(async () => {
        const res = await fetch("http://127.0.0.1:19464/metrics");
        const body = await res.text();
        const m =
          /generator_events_total\{[^}]*kind="security"[^}]*topic="file"[^}]*\} (\d+)/
            .exec(body);
        return m && Number(m[1]) > 0 ? body : undefined;
      }, { timeoutMs: 15_000, what: "generator_events_total > 0" });
      assert.match(text, /generator_bytes_total\{[^}]*\} \d+/);
      assert.match(text, /generator_errors_total\{[^}]*\} 0/);
      assert.match(text, /generator_target_rate\{[^}]*\} 1000/);
    } finally {
      p.kill("SIGTERM");
      await p.wait();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("setup failures are one clear line with exit 1: outside .data, unknown database", async () => {
  const outside = await runTask("generate", [
    "--metrics-port",
    "0",
    "--dir",
    "/tmp/generator-not-allowed",
    "--count",
    "10",
  ]);
  assert.equal(outside.code, 1, outside.stderr);
  assert.match(outside.stderr, /cannot write to \/tmp\/generator-not-allowed/);
  const pg = await runTask("generate", [
    "--metrics-port",
    "0",
    "--kind",
    "cdc",
    "--to",
    "postgres",
    "--count",
    "10",
    "--postgres-url",
    "postgres://postgres@127.0.0.1:15432/no_such_db",
  ], { env: { PGPASSWORD: "postgres" } });
  assert.equal(pg.code, 1, pg.stderr);
  assert.match(pg.stderr, /cannot connect to PostgreSQL/);
  for (const r of [outside, pg]) {
    assert.ok(!r.stderr.includes("    at "), "stack trace printed");
  }
});
