import assert from "node:assert/strict";
import { createLogger, createRegistry } from "../runtime/mod.ts";
import { type Batch, BoundedQueue } from "./batch.ts";
import {
  BufferFullError,
  BufferSource,
  DiskBuffer,
  segmentName,
} from "./disk_buffer.ts";
import { Encoder } from "./encoder.ts";
import { createMetrics } from "./metrics.ts";
import { compileRouting } from "./routing.ts";
import { requirePermissions } from "../../tests/_gate.ts";

requirePermissions(import.meta, { name: "write", path: ".data" }, {
  name: "read",
  path: ".data",
});

/** A fresh directory under .data/tests (inside the test run's write scope). */
async function tempDir(): Promise<string> {
  await Deno.mkdir(".data/tests", { recursive: true });
  return await Deno.makeTempDir({ dir: ".data/tests", prefix: "shipper-" });
}

const log = createLogger("test", "error", () => {});
const enc = new TextEncoder();
const rec = (i: number) => enc.encode(JSON.stringify({ id: i }));

async function drain(dir: string, expect: number, buffer: DiskBuffer) {
  const metrics = createMetrics(createRegistry("t"));
  const queue = new BoundedQueue<Batch>(2);
  const stop = new AbortController();
  const src = new BufferSource({
    buffer,
    chunkBytes: 64,
    maxLineBytes: 1024,
    limits: { maxMessages: 7, maxBytes: 1 << 20, lingerMs: 5 },
    encoder: new Encoder({
      router: compileRouting({ rules: [], defaultTopic: "t" }),
      dlqTopic: "dlq",
    }),
    metrics,
    log,
  });
  const running = src.run(queue, stop.signal).catch((e) => {
    console.error("source failed", e);
    throw e;
  });
  const ids: number[] = [];
  while (ids.length < expect) {
    const b = (await queue.take())!;
    for (const t of b.topicMessages) {
      for (const m of t.messages) ids.push(JSON.parse(m.value.toString()).id);
    }
    await b.ack();
  }
  stop.abort();
  queue.close();
  await running;
  void dir;
  return ids;
}

Deno.test("disk buffer: appends are read back in order and acked segments deleted", async () => {
  const dir = await tempDir();
  try {
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 100,
      maxBytes: 1 << 20,
      log,
    });
    // Concurrent appends share one fsync (group commit)...
    await Promise.all(
      Array.from(
        { length: 5 },
        (_, g) =>
          buf.append(Array.from({ length: 5 }, (_, i) => rec(g * 5 + i))),
      ),
    );
    // ...sequential ones roll over into new segments past segmentBytes.
    for (let g = 5; g < 10; g++) {
      await buf.append(Array.from({ length: 5 }, (_, i) => rec(g * 5 + i)));
    }
    assert.ok(buf.segments.length > 2, "rolled over into several segments");
    const ids = await drain(dir, 50, buf);
    assert.deepEqual(
      ids.sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(buf.depthBytes, 0);
    const left = [...Deno.readDirSync(dir)].filter((e) =>
      e.name.endsWith(".seg")
    );
    assert.ok(left.length <= 2, `old segments deleted (${left.length} left)`);
    await buf.close();
    // Reopened: nothing is shipped twice.
    const again = await DiskBuffer.open({
      dir,
      segmentBytes: 100,
      maxBytes: 1 << 20,
      log,
    });
    assert.equal(again.depthBytes, 0);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk buffer: a torn tail is cut on recovery; unshipped records survive", async () => {
  const dir = await tempDir();
  try {
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 1 << 20,
      maxBytes: 1 << 20,
      log,
    });
    await buf.append([rec(1), rec(2)]);
    const seg = `${dir}/${segmentName(buf.activeSeq)}`;
    await buf.close();
    await Deno.writeTextFile(seg, '{"id":3', { append: true }); // a crash mid-write
    const re = await DiskBuffer.open({
      dir,
      segmentBytes: 1 << 20,
      maxBytes: 1 << 20,
      log,
    });
    assert.equal(re.depthBytes, 2 * '{"id":1}\n'.length);
    assert.deepEqual(await drain(dir, 2, re), [1, 2]);
    await re.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk buffer: refuses appends beyond its size limit", async () => {
  const dir = await tempDir();
  try {
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 1 << 20,
      maxBytes: 30,
      log,
    });
    await buf.append([rec(1), rec(2)]);
    await assert.rejects(() => buf.append([rec(3), rec(4)]), BufferFullError);
    await buf.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk buffer: recovers by itself after ENOSPC on a new segment; health says degraded meanwhile", async () => {
  const dir = await tempDir();
  let full = false;
  const enospc = () =>
    Object.assign(new Error("No space left on device (os error 28)"), {
      code: "ENOSPC",
    });
  try {
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 1024,
      maxBytes: 1 << 20,
      log,
      openFile: (path, opts) =>
        full ? Promise.reject(enospc()) : Deno.open(path, opts),
    });
    let next = 0;
    const batch = (n: number) => Array.from({ length: n }, () => rec(next++));
    const kept: number[] = [];
    const ok = async (n: number) => {
      const recs = batch(n);
      await buf.append(recs);
      for (const r of recs) {
        kept.push(JSON.parse(new TextDecoder().decode(r)).id);
      }
    };
    await ok(150); // > segmentBytes: the next append opens a new segment
    // Phase 1: the disk is full when the next segment is due.
    full = true;
    await assert.rejects(() => buf.append(batch(5)), /No space left/);
    await assert.rejects(() => buf.append(batch(5)), /No space left/);
    full = false;
    await ok(5); // space is back: no restart needed
    await ok(150);
    // Phase 2: /health reports the degraded state while it lasts.
    full = true;
    await assert.rejects(() => buf.append(batch(5)), /No space left/);
    const h = buf.health();
    assert.equal(h.ok, false);
    assert.match(h.error ?? "", /No space left/);
    full = false;
    await ok(5);
    assert.deepEqual(buf.health(), { ok: true });
    const ids = await drain(dir, kept.length, buf);
    assert.deepEqual(ids, kept);
    await buf.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk buffer: idle readers leave no waiters behind", async () => {
  const dir = await tempDir();
  try {
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 1 << 20,
      maxBytes: 1 << 20,
      log,
    });
    const stop = new AbortController();
    // 1000 idle waits: what the reader does in ~4 minutes of no traffic.
    for (let i = 0; i < 1000; i++) await buf.waitForData(1, stop.signal);
    assert.equal(buf.waiting, 0);
    // Aborted waits are removed too.
    const aborted = new AbortController();
    const w = buf.waitForData(60_000, aborted.signal);
    assert.equal(buf.waiting, 1);
    aborted.abort();
    await w;
    assert.equal(buf.waiting, 0);
    // A waiter is still woken by new data, long before its timeout.
    const t0 = Date.now();
    const woken = buf.waitForData(60_000, stop.signal);
    await buf.append([rec(1)]);
    await woken;
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal(buf.waiting, 0);
    await buf.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("disk buffer: folder 0700, segments and position 0600, also those an older run left 0644", async () => {
  const dir = await tempDir();
  try {
    // A segment an older release left world-readable.
    Deno.writeTextFileSync(`${dir}/${segmentName(1)}`, '{"id":1}\n', {
      mode: 0o644,
    });
    Deno.chmodSync(`${dir}/${segmentName(1)}`, 0o644);
    Deno.chmodSync(dir, 0o755);
    const buf = await DiskBuffer.open({
      dir,
      segmentBytes: 1 << 20,
      maxBytes: 1 << 20,
      log,
    });
    await buf.append([rec(2)]);
    await drain(dir, 2, buf);
    await buf.close();
    const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
    assert.equal(mode(dir), 0o700, "buffer folder");
    const files = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(files.some((f) => f.endsWith(".seg")), files.join(","));
    for (const f of files) {
      assert.equal(mode(`${dir}/${f}`), 0o600, `${f} is 0600`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
