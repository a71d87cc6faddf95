import assert from "node:assert/strict";
import { createLogger } from "../runtime/log.ts";
import type { ReplicationFrame } from "./pgoutput.ts";
import { type SessionConnection, streamSession } from "./session.ts";

function xlogdata(walStart: bigint, payload: number[]): Uint8Array {
  const b = new Uint8Array(25 + payload.length);
  const v = new DataView(b.buffer);
  b[0] = 0x77;
  v.setBigUint64(1, walStart);
  v.setBigUint64(9, walStart);
  b.set(payload, 25);
  return b;
}

function keepalive(walEnd: bigint, reply: boolean): Uint8Array {
  const b = new Uint8Array(18);
  b[0] = 0x6b;
  new DataView(b.buffer).setBigUint64(1, walEnd);
  b[17] = reply ? 1 : 0;
  return b;
}

/** A replication connection driven by the test; records what was called. */
class FakeConn implements SessionConnection {
  calls: string[] = [];
  onData!: (p: Uint8Array) => void;
  #end!: () => void;
  #fail!: (e: unknown) => void;
  start(
    slot: string,
    lsn: bigint,
    options: Record<string, string>,
    onData: (p: Uint8Array) => void,
  ): Promise<void> {
    this.calls.push(`start:${slot}:${lsn}:${options.proto_version}`);
    this.onData = onData;
    return new Promise((resolve, reject) => {
      this.#end = resolve;
      this.#fail = reject;
    });
  }
  serverEnds(): void {
    this.#end();
  }
  serverFails(err: Error): void {
    this.#fail(err);
  }
  stop(): void {
    this.calls.push("stop");
    this.#end(); // the server answers CopyDone by ending the stream
  }
  pause(): void {
    this.calls.push("pause");
  }
  resume(): void {
    this.calls.push("resume");
  }
}

function deps(conn: FakeConn, over: { failed?: Promise<never> } = {}) {
  const ctl = new AbortController();
  const events: string[] = [];
  const frames: ReplicationFrame[] = [];
  const d = {
    slot: "s",
    pluginOptions: { proto_version: "1" },
    from: () => 42n,
    handle: (f: ReplicationFrame) => {
      frames.push(f);
      return Promise.resolve();
    },
    sendStatus: (force: boolean) => events.push(`status:${force}`),
    sawData: () => events.push("data"),
    bytesRead: (n: number) => events.push(`bytes:${n}`),
    drain: () => {
      events.push("drain");
      return Promise.resolve();
    },
    failed: over.failed ?? new Promise<never>(() => {}),
    connected: (up: boolean) => events.push(`connected:${up}`),
    log: createLogger("test", "error"),
    signal: ctl.signal,
    stopDrainMs: 50,
  };
  return { d, ctl, events, frames, conn };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("streamSession: frames in order to the handler, status on request, ends with the stream", async () => {
  const conn = new FakeConn();
  const { d, events, frames } = deps(conn);
  const session = streamSession(conn, d);
  conn.onData(xlogdata(100n, [0x42]));
  conn.onData(keepalive(200n, false));
  conn.onData(keepalive(300n, true));
  await tick();
  conn.serverEnds();
  await session;
  assert.deepEqual(conn.calls, ["start:s:42:1"]);
  assert.deepEqual(frames.map((f) => [f.kind, f.walEnd]), [
    ["xlogdata", 100n],
    ["keepalive", 200n],
    ["keepalive", 300n],
  ]);
  assert.deepEqual(events, [
    "connected:true",
    "bytes:26", // every frame's size as read: the byte-rate metric
    "bytes:18",
    "bytes:18",
    "data",
    "status:true", // only the keepalive that asked for a reply
    "connected:false",
  ]);
});

Deno.test("streamSession: shutdown drains Kafka, sends the final status, then ends COPY", async () => {
  const conn = new FakeConn();
  const { d, ctl, events, frames } = deps(conn);
  const session = streamSession(conn, d);
  ctl.abort();
  conn.onData(xlogdata(100n, [1])); // arrives after the stop: not handled
  await session;
  assert.deepEqual(events, [
    "connected:true",
    "drain",
    "bytes:26", // read from the socket (counted), never handled
    "status:true",
    "connected:false",
  ]);
  assert.deepEqual(conn.calls, ["start:s:42:1", "resume", "stop"]);
  assert.equal(frames.length, 0);
});

Deno.test("streamSession fails with the stream's error or the producer's", async () => {
  const conn = new FakeConn();
  const { d, events } = deps(conn);
  const session = streamSession(conn, d);
  conn.serverFails(new Error("slot is active"));
  await assert.rejects(session, /slot is active/);
  assert.deepEqual(events, ["connected:true", "connected:false"]);

  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, r) => fail = r);
  const conn2 = new FakeConn();
  const second = deps(conn2, { failed });
  const s2 = streamSession(conn2, second.d);
  fail(new Error("kafka gone for good"));
  await assert.rejects(s2, /kafka gone for good/);
  conn2.serverEnds(); // leave no pending promise behind
});
