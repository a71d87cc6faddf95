/**
 * Acceptance tests of `deno task ship` against the real cluster: rotation and
 * truncation without loss or duplicates, kill -9 recovery, durable HTTP
 * ingest, dead letters, and least-privilege permissions.
 *
 * Each test uses fresh topics and its own files and state directory.
 */
import assert from "node:assert/strict";
import {
  freshTopic,
  pollUntil,
  readTopic,
  ROOT,
  runTask,
  startTask,
  type TaskProcess,
  tempDataDir,
  topicMessageCount,
  waitForLog,
} from "./_helpers.ts";

const enc = new TextEncoder();

/** A state dir the ship task may write (its scope is .data/shipper). */
function stateDir(name: string): string {
  return `.data/shipper/tests/${name}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Repo-relative form of a path under ROOT (the task's scopes are relative). */
function rel(path: string): string {
  return path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
}

/** NDJSON lines with ids `<prefix>-<i>`; `pad` lengthens each line. */
function lines(prefix: string, from: number, n: number, pad = 0): string {
  let out = "";
  for (let i = from; i < from + n; i++) {
    out += JSON.stringify({
      event_id: `${prefix}-${i}`,
      timestamp: new Date().toISOString(),
      src_ip: `10.0.${i % 200}.${i % 250}`,
      message: "x".repeat(20 + pad),
    }) + "\n";
  }
  return out;
}

async function append(path: string, text: string): Promise<void> {
  const f = await Deno.open(path, { append: true, create: true });
  try {
    const data = enc.encode(text);
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
  } finally {
    f.close();
  }
}

function ship(args: string[]): TaskProcess {
  return startTask("ship", [
    "--metrics-port",
    "0",
    "--poll",
    "100ms",
    ...args,
  ], { env: { LOG_LEVEL: "info" } });
}

/** Counts event ids in a topic: distinct ids and total messages. */
async function idsIn(topic: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of await readTopic(topic, { timeoutMs: 120_000 })) {
    const id = JSON.parse(m.value!).event_id as string;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function stop(p: TaskProcess): Promise<number> {
  p.kill("SIGTERM");
  const r = await p.wait();
  if (r.code !== 0 || Deno.env.get("SHIP_TEST_DEBUG")) {
    console.error(r.stderr.slice(-6000));
  }
  return r.code;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "ship: 100k lines over two renamed files and a copytruncate arrive exactly once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("ship-rot");
    const dlq = await freshTopic("ship-rot-dlq");
    const dir = await tempDataDir("ship-rot");
    const app = `${dir}/app.ndjson`;
    const p = ship([
      "--path",
      `${rel(dir)}/*.ndjson`,
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("rot"),
      "--http-port",
      "0",
      "--rotate-wait",
      "2s",
    ]);
    // A file rotated away before the shipper ever saw it is invisible to a
    // glob that does not match rotated names, so each new file is written
    // only once the shipper tracks it (as in real life: files live longer).
    const tracked = () => p.stderrText().split('"tracking file"').length - 1;
    const writeFile = async (from: number) => {
      const before = tracked();
      await append(app, lines("r", from, 1000));
      await pollUntil(() => tracked() > before, {
        timeoutMs: 30_000,
        what: "the shipper to track the new file",
      });
      for (let k = 0; k < 4; k++) {
        await append(app, lines("r", from + 1000 + k * 6000, 6000));
        await sleep(20);
      }
    };
    try {
      await pollUntil(() => p.stderrText().includes('"msg":"shipping"'), {
        timeoutMs: 30_000,
        what: "the shipper to start",
      });
      // Two rename rotations, each right after the last write: the shipper
      // has to finish the renamed file through its open handle.
      let n = 0;
      for (const rotated of [`${app}.1`, `${app}.2`]) {
        await writeFile(n);
        n += 25000;
        await Deno.rename(app, rotated);
      }
      await writeFile(n);
      n += 25000;
      // copytruncate: the copy does not match the glob; what was in the file
      // before the truncation must be shipped first (copytruncate itself
      // loses lines written between copy and truncate, not us).
      await pollUntil(async () => await topicMessageCount(topic) >= n, {
        timeoutMs: 60_000,
        what: `${n} messages before truncation`,
      });
      await Deno.copyFile(app, `${app}.3`);
      // Longer lines after the truncation: the new file ends up larger than
      // the old position, so only the fingerprint / size check catches it.
      const f = await Deno.open(app, { write: true });
      await f.truncate(0);
      f.close();
      await append(app, lines("r", n, 25000, 10));
      n += 25000;
      assert.equal(n, 100_000);
      await pollUntil(async () => await topicMessageCount(topic) >= n, {
        timeoutMs: 90_000,
        what: `${n} messages in ${topic}`,
      });
      // Stopped, the shipper can send nothing more: any duplicate is in.
      assert.equal(await stop(p), 0, "clean exit on SIGTERM");
      const ids = await idsIn(topic);
      assert.equal(ids.size, n, "distinct event ids");
      for (let i = 0; i < n; i++) {
        assert.equal(ids.get(`r-${i}`), 1, `r-${i} exactly once`);
      }
      assert.equal(await topicMessageCount(topic), n, "no duplicates");
      assert.equal(await topicMessageCount(dlq), 0, "no dead letters");
    } finally {
      assert.equal(await stop(p), 0, "clean exit on SIGTERM");
    }
  },
});

Deno.test({
  name:
    "ship: kill -9 three times during a 200k-line run loses nothing, duplicates ≤ the batches in flight per kill",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("ship-kill");
    const dlq = await freshTopic("ship-kill-dlq");
    const dir = await tempDataDir("ship-kill");
    const batch = 2000;
    // Batches sent but not yet acknowledged (pipelining): after a kill at
    // most these are sent again, since the checkpoint never passes a batch
    // that Kafka has not fully acknowledged.
    const inFlight = 2;
    const args = [
      "--path",
      `${rel(dir)}/*.ndjson`,
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("kill"),
      "--http-port",
      "0",
      "--batch-events",
      String(batch),
      "--max-in-flight",
      String(inFlight),
    ];
    const total = 200_000;
    // The writer appends 10k lines every 150 ms over four files (rotating by
    // name like the generator: a new file every 50k lines).
    const writer = (async () => {
      for (let n = 0; n < total; n += 10_000) {
        const file = `${dir}/events-${String(Math.floor(n / 50_000))}.ndjson`;
        await append(file, lines("k", n, 10_000));
        await sleep(150);
      }
    })();
    let p = ship(args);
    const kills: number[] = [];
    try {
      for (let k = 0; k < 3; k++) {
        // Wait until this incarnation shipped something, then a random delay.
        const before = await topicMessageCount(topic);
        await pollUntil(async () => await topicMessageCount(topic) > before, {
          timeoutMs: 60_000,
          what: "progress before kill",
        });
        const delay = 100 + Math.floor(Math.random() * 600);
        await sleep(delay);
        kills.push(delay);
        p.kill("SIGKILL");
        await p.wait();
        p = ship(args);
      }
      await writer;
      await pollUntil(async () => await topicMessageCount(topic) >= total, {
        timeoutMs: 120_000,
        what: `${total} messages in ${topic}`,
      });
      // The last incarnation may have found everything shipped already; a
      // SIGTERM before its shutdown handler is installed kills it (143).
      await waitForLog(p, '"msg":"shipping"');
      // Stopped, the shipper can send nothing more: any duplicate is in.
      assert.equal(await stop(p), 0);
      const ids = await idsIn(topic);
      const missing: string[] = [];
      for (let i = 0; i < total; i++) {
        if (!ids.has(`k-${i}`)) missing.push(`k-${i}`);
      }
      assert.deepEqual(missing.slice(0, 10), [], `missing ${missing.length}`);
      const messages = await topicMessageCount(topic);
      const dups = messages - ids.size;
      console.log(
        `kill delays ${
          kills.join(", ")
        } ms; ${messages} messages, ${dups} duplicates`,
      );
      assert.ok(
        dups <= 3 * inFlight * batch,
        `${dups} duplicates exceed ${inFlight} batches of ${batch} per kill`,
      );
      assert.equal(await topicMessageCount(dlq), 0, "no dead letters");
    } finally {
      await writer.catch(() => {});
      assert.equal(await stop(p), 0);
    }
  },
});

Deno.test({
  name:
    "ship: HTTP ingest, 50 clients x 100k events, kill -9 mid-way: every 202 is in Kafka",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("ship-http");
    const dlq = await freshTopic("ship-http-dlq");
    const args = [
      "--path",
      "",
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("http"),
      "--http-port",
      "18080",
    ];
    const url = "http://127.0.0.1:18080";
    let p = ship(args);
    const up = () =>
      pollUntil(async () => (await fetch(`${url}/ping`)).ok, {
        timeoutMs: 30_000,
        what: "shipper /ping",
      });
    await up();
    const clients = 50;
    const perClient = 2000;
    const perRequest = 100;
    const accepted = new Set<string>();
    let sent = 0;
    let failures = 0;
    const client = async (c: number) => {
      for (let r = 0; r < perClient / perRequest; r++) {
        const ids = Array.from(
          { length: perRequest },
          (_, i) => `h-${c}-${r}-${i}`,
        );
        const body = ids.map((id) =>
          JSON.stringify({ event_id: id, service: "auth", level: "info" })
        ).join("\n");
        // Retry until accepted: requests cut off by the kill are repeated.
        for (;;) {
          try {
            const res = await fetch(`${url}/v1/logs`, {
              method: "POST",
              body,
              headers: { "content-type": "application/x-ndjson" },
            });
            await res.body?.cancel();
            if (res.status === 202) {
              for (const id of ids) accepted.add(id);
              sent += ids.length;
              break;
            }
            failures++;
          } catch {
            failures++;
          }
          await sleep(100);
        }
      }
    };
    const killer = (async () => {
      await pollUntil(() => sent >= 40_000, {
        timeoutMs: 120_000,
        what: "40k accepted events",
      });
      p.kill("SIGKILL");
      await p.wait();
      p = ship(args);
      await up();
    })();
    try {
      await Promise.all([
        ...Array.from({ length: clients }, (_, c) => client(c)),
        killer,
      ]);
      assert.equal(accepted.size, clients * perClient);
      await pollUntil(
        async () => await topicMessageCount(topic) >= accepted.size,
        { timeoutMs: 120_000, what: `${accepted.size} messages in ${topic}` },
      );
      const ids = await idsIn(topic);
      let missing = 0;
      for (const id of accepted) if (!ids.has(id)) missing++;
      console.log(
        `accepted ${accepted.size}, in Kafka ${ids.size} distinct, ${await topicMessageCount(
          topic,
        )} messages, ${failures} failed/retried requests`,
      );
      assert.equal(missing, 0, "every 202'd event is in Kafka");
      assert.ok(failures > 0, "the kill really interrupted clients");
    } finally {
      assert.equal(await stop(p), 0);
    }
  },
});

Deno.test({
  name:
    "ship: malformed and over-size input goes to the dead-letter topic with reasons; shipping goes on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("ship-dlq");
    const dlq = await freshTopic("ship-dlq-dlq");
    const dir = await tempDataDir("ship-dlq");
    const file = `${dir}/bad.ndjson`;
    const big = JSON.stringify({ event_id: "big", blob: "y".repeat(10_000) });
    await append(
      file,
      lines("g", 0, 100) + "this is not json\n" + "[1,2,3]\n" + big + "\n" +
        '{"event_id": "half",\n' + lines("g", 100, 100),
    );
    const p = ship([
      "--path",
      `${rel(dir)}/*.ndjson`,
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("dlq"),
      "--max-line",
      "4KiB",
      "--http-port",
      "18080",
    ]);
    try {
      await pollUntil(async () => await topicMessageCount(dlq) >= 4, {
        timeoutMs: 60_000,
        what: "4 dead letters",
      });
      // Still alive: more lines keep flowing.
      await append(file, lines("g", 200, 100));
      await pollUntil(async () => await topicMessageCount(topic) >= 300, {
        timeoutMs: 60_000,
        what: "300 good events",
      });
      // HTTP: 400 names the first bad line, 413 for an over-size line, and
      // nothing of a rejected request is kept.
      await pollUntil(
        async () => (await fetch("http://127.0.0.1:18080/ping")).ok,
        { what: "/ping" },
      );
      const bad = await fetch("http://127.0.0.1:18080/v1/logs", {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: '{"event_id":"x1"}\n{"event_id":"x2"}\n{oops}\n',
      });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error, /^line 3: invalid JSON/);
      const huge = await fetch("http://127.0.0.1:18080/v1/logs", {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: big,
      });
      assert.equal(huge.status, 413);
      await huge.body?.cancel();
      const ok = await fetch("http://127.0.0.1:18080/v1/logs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([{ event_id: "a1" }, { event_id: "a2" }]),
      });
      assert.equal(ok.status, 202);
      assert.deepEqual(await ok.json(), { accepted: 2 });
      await pollUntil(async () => await topicMessageCount(topic) >= 302, {
        timeoutMs: 30_000,
        what: "302 events",
      });
      // Stopped, the shipper can send nothing more: exact counts now.
      assert.equal(await stop(p), 0);

      const ids = await idsIn(topic);
      assert.equal(await topicMessageCount(topic), 302);
      for (let i = 0; i < 300; i++) assert.ok(ids.has(`g-${i}`), `g-${i}`);
      assert.ok(ids.has("a1") && ids.has("a2"));
      assert.ok(!ids.has("x1"), "rejected request kept nothing");

      const dead = (await readTopic(dlq)).map((m) => JSON.parse(m.value!));
      assert.equal(dead.length, 4);
      const rel_ = rel(file);
      for (const d of dead) {
        assert.equal(d.pipeline, "shipper");
        assert.equal(d.source, rel_);
        assert.ok(!Number.isNaN(Date.parse(d.ts)));
      }
      const byOriginal = new Map(dead.map((d) => [d.original.slice(0, 20), d]));
      assert.match(
        byOriginal.get("this is not json")!.reason,
        /^invalid JSON/,
      );
      assert.match(byOriginal.get("[1,2,3]")!.reason, /not a JSON object/);
      assert.match(
        byOriginal.get('{"event_id": "half",')!.reason,
        /invalid JSON/,
      );
      const over = dead.find((d) => /exceeds the limit/.test(d.reason));
      assert.ok(over, "over-size line dead-lettered");
      assert.ok(over.original.startsWith('{"event_id":"big"'));
    } finally {
      assert.equal(await stop(p), 0);
    }
  },
});

Deno.test({
  name: "ship: cannot read or write outside its permitted paths",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cases: Array<[string[], RegExp]> = [
      [["--path", "/etc/hostname"], /reading \/etc\/hostname is not permitted/],
      [["--path", "pipelines/**/*.ts"], /reading pipelines is not permitted/],
      [["--path", "/etc/*"], /reading \/etc is not permitted/],
      [
        ["--state-dir", "/tmp/shipper-state"],
        /state-dir \/tmp\/shipper-state: \w+ is not permitted/,
      ],
      [
        ["--config", "/etc/passwd"],
        /permission denied|NotCapable|read access/i,
      ],
    ];
    for (const [args, expected] of cases) {
      const r = await runTask("ship", [
        ...args,
        "--metrics-port",
        "0",
        "--http-port",
        "0",
        "--brokers",
        "127.0.0.1:1",
      ]);
      assert.notEqual(r.code, 0, `${args.join(" ")} must fail`);
      assert.match(r.stderr, expected, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /tracking file|shipping/);
    }
  },
});

Deno.test({
  name:
    "ship --once: a last line without a newline reaches Kafka and the task exits 0",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("shipper-once-tail");
    const dlq = await freshTopic("shipper-once-tail-dlq");
    const dir = await tempDataDir("shipper-once-tail");
    // Three whole lines, then one without its "\n" (a writer that never
    // ended its last line).
    const text = lines("t", 0, 3) + lines("t", 3, 1).trimEnd();
    await Deno.writeTextFile(`${dir}/a.ndjson`, text);
    const p = ship([
      "--once",
      "--path",
      `${rel(dir)}/*.ndjson`,
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("once-tail"),
    ]);
    // Before the fix the task waited forever for the newline.
    const killer = setTimeout(() => p.kill("SIGKILL"), 45_000);
    const r = await p.wait();
    clearTimeout(killer);
    assert.equal(r.code, 0, `exit code; stderr: ${r.stderr.slice(-3000)}`);
    const ids = await idsIn(topic);
    assert.deepEqual([...ids.keys()].sort(), ["t-0", "t-1", "t-2", "t-3"]);
    for (const [id, n] of ids) assert.equal(n, 1, `${id} exactly once`);
    assert.equal(await topicMessageCount(dlq), 0);
    assert.match(r.stderr, /"msg":"all files shipped"/);
  },
});

Deno.test({
  name:
    "ship: a rotated file's last line without a newline is shipped after --rotate-wait",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = await freshTopic("shipper-rot-tail");
    const dlq = await freshTopic("shipper-rot-tail-dlq");
    const dir = await tempDataDir("shipper-rot-tail");
    const app = `${dir}/app.ndjson`;
    await Deno.writeTextFile(app, lines("u", 0, 2));
    const p = ship([
      "--path",
      `${rel(dir)}/*.ndjson`,
      "--topic",
      topic,
      "--dlq-topic",
      dlq,
      "--state-dir",
      stateDir("rot-tail"),
      "--http-port",
      "0",
      "--rotate-wait",
      "1s",
    ]);
    try {
      await pollUntil(async () => await topicMessageCount(topic) >= 2, {
        timeoutMs: 30_000,
        what: "the first two lines",
      });
      // The writer's last line never gets its newline; then the file is
      // rotated away: nothing more will come, so it is shipped as it is.
      await append(app, lines("u", 2, 1).trimEnd());
      await Deno.rename(app, `${dir}/app.old`);
      await pollUntil(async () => await topicMessageCount(topic) >= 3, {
        timeoutMs: 30_000,
        what: "the unterminated last line of the rotated file",
      });
      assert.equal(await stop(p), 0);
      const ids = await idsIn(topic);
      assert.deepEqual([...ids.keys()].sort(), ["u-0", "u-1", "u-2"]);
      for (const [id, n] of ids) assert.equal(n, 1, `${id} exactly once`);
    } finally {
      p.kill("SIGKILL");
    }
  },
});
