import assert from "node:assert/strict";
import { prom } from "../runtime/mod.ts";
import type { AnyTables } from "./any_table.ts";
import { PartitionState } from "./batch.ts";
import { decodeChunk, eachDecoded, packChunk } from "./decode_chunk.ts";
import { createSinkMetrics } from "./metrics.ts";
import {
  chunkBounds,
  type KafkaMessages,
  retimer,
  Router,
} from "./route_message.ts";
import { buildRowConverter } from "./row.ts";
import { parseRoutes } from "./routes.ts";
import { DecodePool, WorkerCrashed } from "./worker_pool.ts";

const enc = new TextEncoder();
const EV = { kind: "event", table: "security_events" } as const;
const TOPIC = "security.events";

function event(i: number): string {
  return JSON.stringify({
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
    event_type: "port_scan",
    severity: "high",
    src_ip: "10.0.0.1",
    src_port: i % 65536,
    dst_ip: "10.0.0.2",
    dst_port: 443,
    protocol: "tcp",
    action: "blocked",
    message: `m${i}`,
  });
}

/** Messages as KafkaJS hands them over: valid, invalid JSON, bad field, null. */
function messages(n: number, first = 100): KafkaMessages {
  const out = [];
  for (let i = 0; i < n; i++) {
    let value: string | null = event(i);
    if (i % 7 === 3) value = "{not json";
    if (i % 11 === 5) value = value.replace('"high"', '"loud"');
    if (i % 13 === 6) value = null;
    out.push({
      offset: String(first + i),
      value: value === null ? null : enc.encode(value),
      key: null,
      timestamp: String(Date.now()),
      attributes: 0,
      headers: {},
    });
  }
  return out as unknown as KafkaMessages;
}

function router(pool?: DecodePool): Router {
  return new Router({
    routes: parseRoutes([], "events"),
    metrics: createSinkMetrics(new prom.Registry()),
    shards: 2,
    pool,
  });
}

/** The ranges' rows and dead letters after appending `ms` through `r`. */
async function appended(r: Router, ms: KafkaMessages) {
  const st = new PartitionState(TOPIC, 1, -1);
  const pre = await r.predecode(st, TOPIC, 1, ms, 1_767_225_600_000);
  const n = r.append(st, TOPIC, 1, ms, 1_767_225_600_000, pre);
  const range = st.ranges[0];
  return {
    n,
    pre: pre !== undefined,
    groups: [...range.groups],
    offsets: [...range.offsets],
    dead: range.deadLetters,
    from: range.from,
    to: range.to,
  };
}

const canRead =
  (await Deno.permissions.query({ name: "read", path: import.meta.dirname! }))
    .state === "granted";

/** A blob worker (no permission needed) running `body` on each message. */
function blobWorker(body: string): string {
  return URL.createObjectURL(
    new Blob([`self.onmessage = (e) => { ${body} };`], {
      type: "text/javascript",
    }),
  );
}

Deno.test("chunkBounds cuts runs of about maxBytes, covering every message", () => {
  const ms = [10, 10, 10, 50, 5, 5].map((n) => ({
    value: new Uint8Array(n),
  }));
  assert.deepEqual(chunkBounds(ms, 25), [[0, 2], [2, 3], [3, 4], [4, 6]]);
  assert.deepEqual(chunkBounds([], 25), []);
  assert.deepEqual(chunkBounds([{ value: null }], 25), [[0, 1]]);
});

Deno.test("decodeChunk: the same rows and dead letters as the in-thread path, in order", async () => {
  const ms = messages(200);
  const inThread = await appended(router(), ms);
  assert.equal(inThread.pre, false);
  // Packed in three chunks and decoded by the pure function.
  const st = new PartitionState(TOPIC, 1, -1);
  const chunks = chunkBounds(ms, 9000).map(([from, to]) => ({
    from,
    count: to - from,
    out: decodeChunk(packChunk(EV, TOPIC, 1, ms, from, to)),
  }));
  const pre = { target: EV, chunks };
  assert.ok(chunks.length >= 3);
  router().append(st, TOPIC, 1, ms, 1_767_225_600_000, pre);
  assert.deepEqual([...st.ranges[0].groups], inThread.groups);
  assert.deepEqual([...st.ranges[0].offsets], inThread.offsets);
  assert.deepEqual(st.ranges[0].deadLetters, inThread.dead);
  assert.ok(inThread.dead.length > 20);
  assert.equal(inThread.n, 200);
  assert.equal(inThread.groups[0][1].length + inThread.dead.length, 200);
});

Deno.test("eachDecoded: a chunk of dead letters only", () => {
  const ms = messages(4).slice(3) as KafkaMessages; // invalid JSON
  const d = decodeChunk(packChunk(EV, TOPIC, 0, ms));
  const seen: string[] = [];
  eachDecoded(d, 1, () => seen.push("row"), (_, r) => seen.push(r));
  assert.equal(seen.length, 1);
  assert.match(seen[0], /invalid JSON/);
});

Deno.test({
  name:
    "DecodePool (real workers): order and dead letters preserved, re-deliveries skipped",
  ignore: !canRead,
  async fn() {
    const pool = new DecodePool({ size: 2, budgetBytes: 1 << 20 });
    try {
      const ms = messages(6000);
      const inThread = await appended(router(), ms);
      const viaPool = await appended(router(pool), ms);
      assert.equal(viaPool.pre, true);
      assert.deepEqual(viaPool, { ...inThread, pre: true });
      // A re-delivered batch adds nothing.
      const st = new PartitionState(TOPIC, 1, -1);
      const r = router(pool);
      r.append(st, TOPIC, 1, ms, 0, await r.predecode(st, TOPIC, 1, ms, 0));
      assert.equal(
        r.append(st, TOPIC, 1, ms, 0, await r.predecode(st, TOPIC, 1, ms, 0)),
        0,
      );
      assert.equal(pool.inFlightBytes, 0);
    } finally {
      pool.close();
    }
  },
});

Deno.test("DecodePool: bytes in flight stay within the budget", async () => {
  // Echo worker answering after 20 ms: chunks pile up unless the budget holds.
  const url = blobWorker(
    `const { id, chunk } = e.data; setTimeout(() => self.postMessage({ id, out: { text: String(chunk.partition), eventMs: new Float64Array(0), dead: [] } }), 20);`,
  );
  const pool = new DecodePool({ size: 2, budgetBytes: 250_000, url });
  try {
    const jobs = [];
    for (let p = 0; p < 12; p++) {
      const ms = [{ offset: "0", value: new Uint8Array(100_000) }];
      jobs.push(pool.decode(packChunk(EV, TOPIC, p, ms)));
    }
    const outs = await Promise.all(jobs);
    assert.deepEqual(
      outs.map((o) => o.text),
      [...Array(12).keys()].map(String),
    );
    assert.ok(pool.maxInFlightBytes <= 250_000, `${pool.maxInFlightBytes}`);
    assert.ok(pool.maxInFlightBytes > 100_000); // two at a time did run
    assert.equal(pool.inFlightBytes, 0);
    // One chunk over the budget still goes (alone).
    const big = [{ offset: "0", value: new Uint8Array(400_000) }];
    const out = await pool.decode(packChunk(EV, TOPIC, 7, big));
    assert.equal(out.text, "7");
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool: a worker crash is reported, and the router decodes in-thread without loss or duplicate", async () => {
  const url = blobWorker(`setTimeout(() => { throw new Error("boom"); });`);
  const crashes: Error[] = [];
  const pool = new DecodePool({
    size: 2,
    budgetBytes: 1 << 20,
    url,
    onCrash: (err) => crashes.push(err),
  });
  try {
    const ms = messages(300);
    await assert.rejects(
      pool.decode(packChunk(EV, TOPIC, 0, ms)),
      (err) => err instanceof WorkerCrashed && /boom/.test(err.message),
    );
    assert.equal(crashes.length, 1);
    assert.equal(pool.inFlightBytes, 0);
    // Through the router: every chunk's worker dies, every row still lands once.
    const inThread = await appended(router(), ms);
    const viaPool = await appended(router(pool), ms);
    assert.deepEqual(viaPool, { ...inThread, pre: true });
    assert.ok(crashes.length >= 2);
  } finally {
    pool.close();
  }
  await assert.rejects(
    pool.decode(packChunk(EV, TOPIC, 0, messages(1))),
    WorkerCrashed,
  );
});

// --- any table (`--map topic=db.table`) ------------------------------------

const COLUMNS = [
  { name: "id", type: "UInt64" },
  { name: "name", type: "String" },
  { name: "level", type: "Enum8('info' = 1, 'error' = 2)" },
  { name: "_partition", type: "UInt32" },
  { name: "_offset", type: "UInt64" },
  { name: "_ingested_at", type: "DateTime" },
  { name: "_key", type: "String" },
  { name: "_timestamp", type: "UInt64" },
];

function tableRouter(pool?: DecodePool): Router {
  const dest = {
    kind: "table",
    insertTable: "mydb.t_local",
    converter: buildRowConverter(COLUMNS),
    columns: COLUMNS,
    strict: false,
  };
  return new Router({
    routes: parseRoutes(["app=mydb.t"], "events"),
    tables: { get: () => dest } as unknown as AnyTables,
    metrics: createSinkMetrics(new prom.Registry()),
    shards: 2,
    pool,
  });
}

function appMessages(n: number, first = 0): KafkaMessages {
  const out = [];
  for (let i = 0; i < n; i++) {
    let v: string | null = JSON.stringify({
      id: first + i,
      name: `n${i}\n"x"`,
      level: i % 2 ? "info" : "error",
      extra: 1,
    });
    if (i % 9 === 4) v = v.replace('"info"', '"loud"');
    if (i % 17 === 8) v = null;
    out.push({
      offset: String(first + i),
      value: v === null ? null : enc.encode(v),
      key: i % 3 ? enc.encode(`k${i}`) : null,
      timestamp: String(1_767_225_600_000 + i),
    });
  }
  return out as unknown as KafkaMessages;
}

/** Appends two batches, sealing the range in between (as a flush does). */
async function tableRanges(r: Router, now: number[]) {
  const st = new PartitionState("app", 0, -1);
  const a = appMessages(3000), b = appMessages(3000, 3000);
  r.append(st, "app", 0, a, now[0], await r.predecode(st, "app", 0, a, now[0]));
  // The worker builds b with the open range's ingest time; a flush seals
  // that range before b is appended, so b's rows go to a new range.
  const pre = await r.predecode(st, "app", 0, b, now[1]);
  st.takeForFlush();
  r.append(st, "app", 0, b, now[2], pre);
  return st.ranges.map((x) => ({
    ts: x.ts,
    groups: [...x.groups],
    offsets: [...x.offsets],
    dead: x.deadLetters,
  }));
}

Deno.test({
  name:
    "DecodePool (real workers), any table: same rows as in-thread, and a sealed range's rows get its ingest time",
  ignore: !canRead,
  async fn() {
    const pool = new DecodePool({ size: 2, budgetBytes: 1 << 20 });
    try {
      const now = [1_767_225_600_000, 1_767_225_600_500, 1_767_225_603_000];
      const inThread = await tableRanges(tableRouter(), now);
      const viaPool = await tableRanges(tableRouter(pool), now);
      assert.equal(inThread.length, 2);
      assert.notEqual(inThread[0].ts, inThread[1].ts);
      assert.deepEqual(viaPool, inThread);
      assert.ok(inThread[1].groups[0][1][0].includes(`"_ingested_at":`));
      assert.ok(inThread[0].dead.length > 300);
    } finally {
      pool.close();
    }
  },
});

Deno.test("retimer: changes only the metadata _ingested_at, even after a look-alike in a value", () => {
  const cols = [
    { name: "m", type: "Map(String, UInt32)" },
    { name: "_ingested_at", type: "UInt32" },
    { name: "_offset", type: "UInt64" },
  ];
  const dest = {
    kind: "table" as const,
    insertTable: "db.t",
    converter: buildRowConverter(cols),
  };
  const meta = {
    topic: "t",
    partition: 0,
    offset: 5,
    key: null,
    timestampMs: 0,
  };
  const v = { m: { _ingested_at: 100 } };
  const r1 = dest.converter.convert(v, meta, 100);
  const r2 = dest.converter.convert(v, meta, 200);
  assert.ok(r1.ok && r2.ok);
  assert.equal(retimer(dest, 100, 200)(r1.line), r2.line);
  // A table without _ingested_at: the line does not depend on the time.
  const plain = {
    ...dest,
    converter: buildRowConverter([{ name: "x", type: "String" }]),
  };
  assert.equal(retimer(plain, 100, 200)('{"x":"a"}'), '{"x":"a"}');
});
