/**
 * Fault tests of `deno task sink` for issue 13 (items 1 and 6) against the
 * real cluster: dead letters too many or too large for one Kafka request, a
 * dead-letter topic that refuses them, and SIGTERM while ClickHouse hangs
 * (through a proxy this test runs, so the shared cluster is untouched).
 * Every test uses a fresh `hardening` topic and group and counts by `_topic`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  chHeaders,
  countRows,
  ensureTopics,
  freshTopic,
  groupLag,
  kcatProduce,
  pollUntil,
  ROOT,
  startTask,
  stopTask,
  taskArgv,
  type TaskProcess,
  testKafka,
} from "./_helpers.ts";

const NODES = [18123, 18124, 18125, 18126];
const T = { sanitizeOps: false, sanitizeResources: false };

/** Merges paused while counting, so a duplicate would stay visible. */
async function setMerges(on: boolean): Promise<void> {
  for (const port of NODES) {
    for (const t of ["security_events_local", "dead_letter_local"]) {
      const res = await fetch(`http://127.0.0.1:${port}`, {
        method: "POST",
        headers: chHeaders(),
        body: `SYSTEM ${on ? "START" : "STOP"} MERGES analytics.${t}`,
      });
      await res.body?.cancel();
    }
  }
}

function sinkTest(def: Deno.TestDefinition): void {
  Deno.test({
    ...T,
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

/** `n` valid security events (contract shape). */
function events(n: number, tag: string): string[] {
  const out: string[] = [];
  const t0 = Date.UTC(2026, 10, 21, 12);
  for (let i = 0; i < n; i++) {
    const hex = (i + 1).toString(16).padStart(12, "0");
    out.push(JSON.stringify({
      event_id: `${tag.slice(0, 8).padEnd(8, "0")}-0000-4000-a000-${hex}`,
      timestamp: new Date(t0 + i).toISOString(),
      event_type: "port_scan",
      severity: "low",
      src_ip: "10.0.0.1",
      src_port: 1000 + (i % 1000),
      dst_ip: "10.0.0.2",
      dst_port: 22,
      protocol: "ssh",
      user: "",
      host: "h",
      action: "blocked",
      message: `event ${i}`,
      scenario_id: "",
    }));
  }
  return out;
}

/** Messages of `dlq` whose source is `topic`, once there are `n`. */
async function dlqOf(dlq: string, topic: string, n: number) {
  const out: Array<Record<string, unknown>> = [];
  const consumer = testKafka().consumer({
    groupId: `hardening-dlq-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = JSON.parse(message.value!.toString());
        if (String(v.source).startsWith(`${topic}:`)) out.push(v);
        await Promise.resolve();
      },
    });
    await pollUntil(() => out.length >= n, {
      what: `${n} messages of ${topic} in ${dlq}`,
      timeoutMs: 90_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

function sinkArgs(topic: string, group: string, extra: string[] = []) {
  return [
    "--topics",
    topic,
    "--map",
    `${topic}=security_events`,
    "--group",
    group,
    "--metrics-port",
    "0",
    "--session-timeout",
    "6s",
    ...extra,
  ];
}

function withStderr(p: TaskProcess) {
  return (err: Error) => {
    throw new Error(
      `${err.message}\nsink stderr (tail):\n${
        p.stderrText().split("\n").filter((l) => !l.includes('"info"')).slice(
          -20,
        ).join("\n")
      }`,
    );
  };
}

sinkTest({
  name:
    "sink hardening: 3000 dead letters and one of 1.8 MB encoded go out in bounded requests; consumption goes on",
  fn: async () => {
    const topic = await freshTopic("hardening_dl");
    const group = `hardening-dl-${crypto.randomUUID().slice(0, 6)}`;
    const valid = events(2_000, crypto.randomUUID());
    const invalid = Array.from(
      { length: 3_000 },
      (_, i) => `not json ${i} ${"y".repeat(400)}`,
    );
    // 900 KB of backslashes: twice that once JSON-escaped in a dead letter.
    const huge = `not json ${"\\".repeat(900_000)}`;
    await kcatProduce(topic, [...valid, ...invalid, huge]);
    const p = startTask("sink", sinkArgs(topic, group));
    try {
      await pollUntil(
        async () =>
          (await countRows("security_events", topic)) === valid.length &&
          (await countRows("dead_letter", topic)) === invalid.length + 1 &&
          (await groupLag(group, topic)) === 0,
        {
          what: "rows, dead letters, and offsets committed",
          timeoutMs: 90_000,
        },
      ).catch(withStderr(p));
      const dl = await dlqOf("dlq.sink", topic, invalid.length + 1);
      assert.equal(dl.length, invalid.length + 1, "each dead letter once");
      const big = dl.find((m) => m.original_bytes !== undefined)!;
      assert.ok(big, "the huge one is on the topic");
      assert.equal(big.original_bytes, huge.length);
      assert.equal((big.original as string).length, 64 * 1024);
      assert.match(String(big.reason), /truncated/);
      assert.equal(await countRows("security_events", topic), valid.length);
    } finally {
      assert.equal(await stopTask(p), 0);
    }
  },
});

sinkTest({
  name:
    "sink hardening: a dead-letter topic that refuses every dead letter does not hold valid rows back",
  fn: async () => {
    const topic = await freshTopic("hardening_dlx");
    const dlq = `test.hardening_dlq.${crypto.randomUUID().slice(0, 8)}`;
    const admin = testKafka().admin();
    await admin.connect();
    try {
      // A broker that has not yet learnt of the new topic answers its
      // metadata request with UNKNOWN_TOPIC_OR_PARTITION: ask again.
      await pollUntil(
        () =>
          admin.createTopics({
            topics: [{
              topic: dlq,
              numPartitions: 1,
              replicationFactor: 3,
              configEntries: [{ name: "max.message.bytes", value: "4096" }],
            }],
          }).then(() => true),
        { what: `topic ${dlq} created`, timeoutMs: 30_000, intervalMs: 500 },
      );
    } finally {
      await admin.disconnect();
    }
    await ensureTopics([dlq], 1);
    const group = `hardening-dlx-${crypto.randomUUID().slice(0, 6)}`;
    const valid = events(500, crypto.randomUUID());
    const invalid = Array.from(
      { length: 5 },
      (_, i) => `not json ${i} ${"z".repeat(10_000)}`,
    );
    await kcatProduce(topic, [...valid, ...invalid]);
    const p = startTask("sink", sinkArgs(topic, group, ["--dlq-topic", dlq]));
    try {
      await pollUntil(
        async () =>
          (await countRows("security_events", topic)) === valid.length &&
          (await countRows("dead_letter", topic)) === invalid.length &&
          (await groupLag(group, topic)) === 0,
        { what: "rows committed despite the refusing DLQ", timeoutMs: 90_000 },
      ).catch(withStderr(p));
      assert.match(
        p.stderrText(),
        /dead letters could not be written to the dead-letter topic/,
      );
    } finally {
      assert.equal(await stopTask(p), 0);
      const a = testKafka().admin();
      await a.connect();
      await a.deleteTopics({ topics: [dlq] }).catch(() => {});
      await a.disconnect();
    }
  },
});

/**
 * A TCP proxy to one ClickHouse node. `swallow` forwards requests but drops
 * every response: ClickHouse does the insert, the sink never hears back.
 */
class Proxy {
  readonly listener: Deno.TcpListener;
  swallow = false;
  readonly #conns = new Set<Deno.Conn>();

  constructor(readonly upstream: number) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    void this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async #accept() {
    try {
      for await (const c of this.listener) void this.#serve(c);
    } catch { /* closed */ }
  }

  async #serve(c: Deno.Conn) {
    const up = await Deno.connect({
      hostname: "127.0.0.1",
      port: this.upstream,
    });
    this.#conns.add(c).add(up);
    const swallow = this.swallow;
    const down = swallow
      ? up.readable.pipeTo(new WritableStream())
      : up.readable.pipeTo(c.writable);
    await Promise.allSettled([c.readable.pipeTo(up.writable), down]);
    this.#drop(c);
    this.#drop(up);
  }

  #drop(c: Deno.Conn) {
    if (!this.#conns.delete(c)) return;
    try {
      c.close();
    } catch { /* closed */ }
  }

  /** Switches mode; open connections are cut so new ones use it. */
  setSwallow(on: boolean) {
    this.swallow = on;
    for (const c of [...this.#conns]) this.#drop(c);
  }

  close() {
    this.setSwallow(false);
    this.listener.close();
  }
}

sinkTest({
  name:
    "sink hardening: SIGTERM while ClickHouse hangs exits non-zero after the deadline; a restart lands every row exactly once",
  fn: async () => {
    const topic = await freshTopic("hardening_term");
    const group = `hardening-term-${crypto.randomUUID().slice(0, 6)}`;
    const N = 5_000;
    const proxies = NODES.map((port) => new Proxy(port));
    const shards = [
      `http://127.0.0.1:${proxies[0].port}|http://127.0.0.1:${proxies[1].port}`,
      `http://127.0.0.1:${proxies[2].port}|http://127.0.0.1:${proxies[3].port}`,
    ].join(",");
    // The sink's own program and permissions, plus the proxies' ports.
    const [cmd, ...argv] = taskArgv("sink");
    const perms = argv.map((a) =>
      a.startsWith("--allow-net=")
        ? `${a},${proxies.map((p) => `127.0.0.1:${p.port}`).join(",")}`
        : a
    );
    const child = new Deno.Command(cmd, {
      args: [
        ...perms,
        ...sinkArgs(topic, group, [
          "--clickhouse-shards",
          shards,
          "--insert-timeout",
          "2s",
        ]),
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", LOG_LEVEL: "info" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let stderr = "";
    const pump = (async () => {
      const dec = new TextDecoder();
      for await (const c of child.stderr) stderr += dec.decode(c);
    })();
    let code: number | undefined;
    try {
      await pollUntil(() => stderr.includes('"msg":"consuming"'), {
        what: "sink consuming",
        timeoutMs: 60_000,
      });
      for (const p of proxies) p.setSwallow(true);
      await kcatProduce(topic, events(N, crypto.randomUUID()));
      await pollUntil(
        () => stderr.includes("clickhouse request failed, switching replica"),
        { what: "inserts hanging", timeoutMs: 60_000 },
      );
      const t0 = Date.now();
      child.kill("SIGTERM");
      const status = await Promise.race([
        child.status,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000)),
      ]);
      assert.ok(
        status,
        `sink still running 30 s after SIGTERM:\n${stderr.slice(-3000)}`,
      );
      code = status.code;
      assert.notEqual(code, 0, "exit non-zero");
      assert.ok(Date.now() - t0 < 20_000, "within the shutdown deadline");
      assert.match(stderr, /final flush did not complete/);
      assert.ok((await groupLag(group, topic)) > 0, "nothing committed");
    } finally {
      if (code === undefined) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await pump.catch(() => {});
      for (const p of proxies) p.close();
    }
    // Against the real cluster: the manifest re-forms the range; ClickHouse
    // drops the block it already has (the swallowed inserts did land).
    const again = startTask(
      "sink",
      sinkArgs(topic, group, ["--exit-when-idle", "5s"]),
      { env: { LOG_LEVEL: "info" } },
    );
    const r = await again.wait();
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.match(r.stderr, /re-forming a batch from the manifest/);
    assert.equal(await groupLag(group, topic), 0);
    await pollUntil(
      async () => (await countRows("security_events", topic)) >= N,
      { what: `${N} rows`, timeoutMs: 30_000 },
    );
    assert.equal(await countRows("security_events", topic), N, "exactly once");
  },
});
