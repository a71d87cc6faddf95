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
