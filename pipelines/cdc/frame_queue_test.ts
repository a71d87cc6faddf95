import assert from "node:assert/strict";
import { FrameQueue } from "./frame_queue.ts";

const BOUNDS = { highFrames: 4, lowFrames: 1, highBytes: 100, lowBytes: 20 };

function flowLog() {
  const calls: string[] = [];
  return {
    calls,
    flow: {
      pause: () => calls.push("pause"),
      resume: () => calls.push("resume"),
    },
  };
}

Deno.test("FrameQueue keeps order and copies each chunk", async () => {
  const { flow } = flowLog();
  const q = new FrameQueue(flow, BOUNDS);
  const buf = new Uint8Array([1, 2]);
  q.push(buf);
  buf[0] = 9; // pg reuses its read buffer
  q.push(new Uint8Array([3]));
  assert.deepEqual(await q.next(), new Uint8Array([1, 2]));
  assert.deepEqual(await q.next(), new Uint8Array([3]));
  assert.equal(q.length, 0);
  assert.equal(q.bytes, 0);
});

Deno.test("FrameQueue pauses at the frame mark and resumes at the low mark", async () => {
  const { flow, calls } = flowLog();
  const q = new FrameQueue(flow, BOUNDS);
  for (let i = 0; i < 4; i++) q.push(new Uint8Array([i]));
  assert.deepEqual(calls, ["pause"]);
  q.push(new Uint8Array([4])); // already paused: no second pause
  assert.deepEqual(calls, ["pause"]);
  await q.next(); // 4 left
  await q.next(); // 3 left
  await q.next(); // 2 left
  await q.next(); // 1 left, but resume waits until that frame was handled
  assert.deepEqual(calls, ["pause"]);
  await q.next(); // the next call resumes first
  assert.deepEqual(calls, ["pause", "resume"]);
  assert.equal(q.paused, false);
});

Deno.test("FrameQueue pauses on bytes alone and resumes only under both marks", async () => {
  const { flow, calls } = flowLog();
  const q = new FrameQueue(flow, BOUNDS);
  q.push(new Uint8Array(60));
  q.push(new Uint8Array(50)); // 110 bytes ≥ 100, 2 frames < 4
  assert.deepEqual(calls, ["pause"]);
  assert.equal(q.bytes, 110);
  await q.next(); // 50 bytes left: 1 frame ≤ 1 but 50 > 20
  await q.next(); // resume check ran with 50 bytes queued: still paused
  assert.deepEqual(calls, ["pause"]);
  q.push(new Uint8Array(5));
  await q.next(); // 1 frame, 5 bytes before this call: resumes
  assert.deepEqual(calls, ["pause", "resume"]);
});

Deno.test("FrameQueue.next waits for a frame, and ends once drained", async () => {
  const { flow } = flowLog();
  const q = new FrameQueue(flow, BOUNDS);
  const waiting = q.next();
  q.push(new Uint8Array([7]));
  assert.deepEqual(await waiting, new Uint8Array([7]));
  q.push(new Uint8Array([8]));
  q.end();
  assert.deepEqual(await q.next(), new Uint8Array([8]));
  assert.equal(await q.next(), undefined);
  const idle = new FrameQueue(flow, BOUNDS);
  const pending = idle.next();
  idle.end();
  assert.equal(await pending, undefined);
});
