import assert from "node:assert/strict";
import { requirePermissions } from "../../tests/_gate.ts";
import { createLogger, createRegistry } from "../runtime/mod.ts";
import { type Batch, BoundedQueue } from "./batch.ts";
import { Encoder } from "./encoder.ts";
import { FileSource } from "./file_source.ts";
import { createMetrics } from "./metrics.ts";
import { compileRouting } from "./routing.ts";

requirePermissions(
  import.meta,
  { name: "read", path: ".data" },
  { name: "write", path: ".data" },
);

/** A fresh directory under .data/tests (inside the test run's write scope). */
async function tempDir(): Promise<string> {
  await Deno.mkdir(".data/tests", { recursive: true });
  return await Deno.makeTempDir({ dir: ".data/tests", prefix: "files-" });
}

const log = createLogger("test", "error", () => {});

/** A running source whose batches are taken and acknowledged as Kafka would. */
function start(dir: string, pattern: string, once = false, pollMs = 20) {
  const queue = new BoundedQueue<Batch>(4);
  const stop = new AbortController();
  const src = new FileSource({
    files: [{ pattern: `${dir}/${pattern}`, format: "ndjson" }],
    checkpointPath: `${dir}/checkpoint.json`,
    pollMs,
    chunkBytes: 16,
    maxLineBytes: 1024,
    limits: { maxMessages: 3, maxBytes: 1 << 20, lingerMs: 5 },
    rotateWaitMs: 300,
    idleCloseMs: 60_000,
    once,
    encoder: new Encoder({
      router: compileRouting({ rules: [], defaultTopic: "t" }),
      dlqTopic: "dlq",
    }),
    metrics: createMetrics(createRegistry("t")),
    log,
  });
  const ids: number[] = [];
  const running = src.run(queue, stop.signal);
  const taking = (async () => {
    for (let b = await queue.take(); b; b = await queue.take()) {
      for (const t of b.topicMessages) {
        for (const m of t.messages) ids.push(JSON.parse(m.value.toString()).id);
      }
      await b.ack();
    }
  })();
  return {
    ids,
    running,
    /** Waits until `n` ids arrived (fails after 5 s). */
    async until(n: number): Promise<void> {
      const deadline = Date.now() + 5_000;
      while (ids.length < n) {
        if (Date.now() > deadline) {
          throw new Error(`${ids.length} of ${n} lines: ${ids}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(): Promise<void> {
      stop.abort();
      await running;
      queue.close();
      await taking;
    },
  };
}

const lines = (...ids: number[]) =>
  ids.map((id) => JSON.stringify({ id }) + "\n").join("");

Deno.test("file source: tails what is appended to a file", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1, 2));
  const s = start(dir, "*.log");
  try {
    await s.until(2);
    await Deno.writeTextFile(file, lines(3, 4, 5, 6), { append: true });
    await s.until(6);
    // A file that appears later is picked up by the next scan.
    await Deno.writeTextFile(`${dir}/other.log`, lines(7));
    await s.until(7);
  } finally {
    await s.stop();
  }
  assert.deepEqual(s.ids, [1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("file source: a change wakes it long before the poll (inotify)", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1));
  // A 60 s poll: only the watcher can deliver within the 5 s of until().
  const s = start(dir, "*.log", false, 60_000);
  try {
    await s.until(1);
    await Deno.writeTextFile(file, lines(2, 3), { append: true });
    await s.until(3);
    // A new file: the create event re-scans the globs.
    await Deno.writeTextFile(`${dir}/other.log`, lines(4));
    await s.until(4);
    // Rotation by rename, then a new file under the old name.
    await Deno.rename(file, `${dir}/app.log.1`);
    await Deno.writeTextFile(`${dir}/app.log.1`, lines(5), { append: true });
    await Deno.writeTextFile(file, lines(6));
    await s.until(6);
  } finally {
    await s.stop();
  }
  assert.deepEqual([...s.ids].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
});

Deno.test("file source: woken by a copytruncate rewritten past its position, it restarts at 0", async () => {
  const dir = await tempDir();
  // The logs in a directory of their own: the checkpoint's renames in `dir`
  // would wake the source (and re-scan) by themselves.
  await Deno.mkdir(`${dir}/logs`);
  const file = `${dir}/logs/app.log`;
  await Deno.writeTextFile(file, lines(1, 2, 3));
  // A 60 s poll: only a wake-up can bring the new lines within 5 s.
  const s = start(dir, "logs/*.log", false, 60_000);
  try {
    await s.until(3);
    // The writer's own handle: truncated and rewritten in place, no open or
    // create event, longer than before (only the fingerprint tells).
    const f = await Deno.open(file, { write: true });
    await f.truncate(0);
    const pad = "x".repeat(40);
    const text = [9, 10].map((id) => JSON.stringify({ id, pad }) + "\n");
    await f.write(new TextEncoder().encode(text.join("")));
    f.close();
    await s.until(5);
  } finally {
    await s.stop();
  }
  assert.deepEqual(s.ids, [1, 2, 3, 9, 10]);
});

Deno.test("file source: a partial line completed later is shipped once, whole", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1) + '{"id":');
  const s = start(dir, "*.log");
  try {
    await s.until(1);
    await Deno.writeTextFile(file, "2}\n" + lines(3), { append: true });
    await s.until(3);
  } finally {
    await s.stop();
  }
  assert.deepEqual(s.ids, [1, 2, 3]);
});

Deno.test("file source: a restart resumes at the checkpoint; --once ships a last line without newline", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1, 2, 3, 4, 5));
  const first = start(dir, "*.log", true);
  await first.running; // --once: returns once everything is acknowledged
  await first.stop();
  assert.deepEqual(first.ids, [1, 2, 3, 4, 5]);
  const cp = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
  assert.equal(cp.files.length, 1);
  assert.equal(cp.files[0].offset, (await Deno.stat(file)).size);

  await Deno.writeTextFile(file, lines(6, 7) + '{"id":8}', { append: true });
  const second = start(dir, "*.log", true);
  await second.running;
  await second.stop();
  assert.deepEqual(second.ids, [6, 7, 8]);
});

Deno.test("file source: rotation by rename loses and repeats nothing", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1, 2));
  const s = start(dir, "app.log");
  try {
    await s.until(2);
    await Deno.rename(file, `${dir}/app.log.1`);
    // The writer still had the old file open and wrote one more line to it.
    await Deno.writeTextFile(`${dir}/app.log.1`, lines(3), { append: true });
    await Deno.writeTextFile(file, lines(4, 5));
    await s.until(5);
  } finally {
    await s.stop();
  }
  assert.deepEqual([...s.ids].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  assert.deepEqual(s.ids.slice(0, 2), [1, 2]);
});

Deno.test("file source: truncation (copytruncate) restarts the file at 0", async () => {
  const dir = await tempDir();
  const file = `${dir}/app.log`;
  await Deno.writeTextFile(file, lines(1, 2, 3));
  const s = start(dir, "*.log");
  try {
    await s.until(3);
    await Deno.writeTextFile(file, lines(9)); // shorter than before
    await s.until(4);
  } finally {
    await s.stop();
  }
  assert.deepEqual(s.ids, [1, 2, 3, 9]);
});
