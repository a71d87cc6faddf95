/**
 * The sink's flush scheduling against the real cluster (issue 14), with the
 * sink in-process so that one shard's inserts can be held: a shard whose
 * insert hangs holds back only its own partitions, the other shard's rows
 * keep arriving, and once it answers every row is there exactly once.
 *
 * Run: deno test -P tests/sink_flush_test.ts
 */
import assert from "node:assert/strict";
import { createKafka, createLogger, prom } from "../pipelines/runtime/mod.ts";
import { parseCommand } from "../pipelines/runtime/cli.ts";
import { buildConfig, SINK_SPEC } from "../pipelines/sink/config.ts";
import { createSinkMetrics } from "../pipelines/sink/metrics.ts";
import { shardOfPartition } from "../pipelines/sink/routes.ts";
import {
  ClickHouseService,
  type ServiceOptions,
} from "../pipelines/sink/service.ts";
import { Sink } from "../pipelines/sink/sink.ts";
import {
  chQuery,
  countRows,
  freshTopic,
  kcatProduce,
  pollUntil,
  testKafka,
} from "./_helpers.ts";

/** A service whose inserts into one shard wait until {@link release}. */
class HeldShard extends ClickHouseService {
  /** Inserts that reached the held shard. */
  held = 0;
  #release!: () => void;
  readonly #gate = new Promise<void>((r) => this.#release = r);

  constructor(opts: ServiceOptions, readonly heldShard: number) {
    super(opts);
  }

  override async insert(
    ...args: Parameters<ClickHouseService["insert"]>
  ): Promise<void> {
    if (args[0] === this.heldShard) {
      this.held++;
      await this.#gate;
    }
    return await super.insert(...args);
  }

  release() {
    this.#release();
  }
}

/**
 * `n` valid security events with unique ids, keyed (`key\tvalue`) so that
 * they spread over every partition.
 */
function events(n: number, tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const hex = i.toString(16).padStart(12, "0");
    out.push(
      `${tag}${i}\t` + JSON.stringify({
        event_id: `${tag}-0000-4000-a000-${hex}`,
        timestamp: new Date(Date.UTC(2026, 11, 7) + i).toISOString(),
        event_type: "port_scan",
        severity: "low",
        src_ip: "10.0.0.1",
        src_port: 1000 + (i % 60000),
        dst_ip: "10.0.0.2",
        dst_port: 22,
        protocol: "ssh",
        user: "",
        host: "host-1",
        action: "blocked",
        message: `event ${i}`,
        scenario_id: "",
      }),
    );
  }
  return out;
}

const KEYED = { keyDelimiter: "\t" };

/** Messages per partition of `topic` (its high watermarks). */
async function perPartition(topic: string): Promise<Map<number, number>> {
  const admin = testKafka("sink-flush-test").admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Rows of `topic` per shard (the replica that has the most). */
async function rowsPerShard(
  topic: string,
  shards: string[][],
): Promise<number[]> {
  return await Promise.all(shards.map(async (urls) => {
    const counts = await Promise.all(
      urls.map((u) => countRows("security_events_local", topic, u)),
    );
    return Math.max(...counts);
  }));
}

Deno.test({
  name:
    "sink: a shard whose insert hangs holds back only its own partitions; all rows land once when it answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("sinkflush", 4);
    const group = `sink-flush-${crypto.randomUUID().slice(0, 6)}`;
    const { options } = parseCommand(SINK_SPEC, [
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
      "--workers",
      "0",
    ], () => undefined);
    const config = buildConfig(options);
    const log = createLogger("sink-flush-test", "warn");
    const metrics = createSinkMetrics(new prom.Registry());
    const service = new HeldShard({
      shards: config.shards,
      username: config.clickhouseUser,
      password: config.clickhousePassword,
      log,
      metrics,
      minRetryMs: config.minInsertIntervalMs,
      requestTimeoutMs: config.insertTimeoutMs,
    }, 0);
    const kafka = createKafka({
      brokers: config.brokers,
      clientId: group,
      log,
    });
    const sink = new Sink({ config, log, metrics, service, kafka });
    await sink.start();
    const running = sink.run();
    let released = false;
    try {
      // Rows of shard 2's partitions, after each produce.
      const shard2 = async () => {
        let n = 0;
        for (const [p, c] of await perPartition(topic)) {
          if (shardOfPartition(topic, p, 2) === 1) n += c;
        }
        return n;
      };
      await kcatProduce(topic, events(4_000, "aaaaaaaa"), KEYED);
      const first = await shard2();
      assert.ok(first > 0 && first < 4_000, `shard 2 got ${first} of 4000`);
      await pollUntil(
        async () => (await rowsPerShard(topic, config.shards))[1] === first,
        {
          what: `shard 2's first ${first} rows`,
          timeoutMs: 30_000,
        },
      );
      // Shard 1 still hangs in the first flush; shard 2 must move on.
      await kcatProduce(topic, events(4_000, "bbbbbbbb"), KEYED);
      const second = await shard2();
      await pollUntil(
        async () => (await rowsPerShard(topic, config.shards))[1] === second,
        {
          what: `shard 2's ${second} rows while shard 1 hangs`,
          timeoutMs: 30_000,
        },
      );
      assert.equal((await rowsPerShard(topic, config.shards))[0], 0);
      assert.ok(service.held >= 1, "inserts wait on the held shard");
      service.release();
      released = true;
      const all = await pollUntil(async () => {
        const r = await rowsPerShard(topic, config.shards);
        return r[0] + r[1] === 8_000 ? r : undefined;
      }, { what: "all 8000 rows", timeoutMs: 60_000 });
      assert.equal(all[1], second);
      const [d] = await chQuery<{ c: string; u: string }>(
        `SELECT count() AS c, uniqExact(event_id) AS u
         FROM analytics.security_events WHERE _topic = '${topic}'`,
      );
      assert.deepEqual([Number(d.c), Number(d.u)], [8_000, 8_000]);
    } finally {
      if (!released) service.release();
      await sink.stop();
      await running;
      await service.close();
    }
    assert.equal(sink.incomplete, false);
  },
});
