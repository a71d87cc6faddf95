/**
 * One streaming session on a replication connection: `START_REPLICATION`,
 * frames through the bounded {@link FrameQueue} into the change handler,
 * status on the server's request, and a clean stop on shutdown (drain, send
 * the final status, then end COPY). The reconnect loop runs one per
 * connection.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";
import { sleep } from "../runtime/shutdown.ts";
import { type FlowControl, FrameQueue } from "./frame_queue.ts";
import { formatLsn, type Lsn } from "./lsn.ts";
import { parseFrame, type ReplicationFrame } from "./pgoutput.ts";

/** The parts of {@link ReplicationConnection} a session uses. */
export interface SessionConnection extends FlowControl {
  start(
    slot: string,
    startLsn: Lsn,
    options: Record<string, string>,
    onData: (payload: Uint8Array) => void,
  ): Promise<void>;
  stop(): void;
}

/** What a session feeds and reports to. */
export interface SessionDeps {
  slot: string;
  pluginOptions: Record<string, string>;
  /** Where to start: the confirmed LSN at the session's start. */
  from: () => Lsn;
  handle: (frame: ReplicationFrame) => Promise<void>;
  /** Standby status (see status_reporter.ts); `true` forces one. */
  sendStatus: (force: boolean) => void;
  /** WAL data arrived (the heartbeat's idle clock). */
  sawData: () => void;
  /** Bytes of each CopyData frame as read (hot path: keep it an addition). */
  bytesRead?: (n: number) => void;
  /** Resolves when Kafka acknowledged everything pushed. */
  drain: () => Promise<void>;
  /** Rejects when the producer stopped for good. */
  failed: Promise<never>;
  /** The session is up (true) or over (false): the Connected metric. */
  connected: (up: boolean) => void;
  log: Logger;
  signal: AbortSignal;
  /** Longest wait for Kafka at a clean stop. */
  stopDrainMs?: number;
}

/** Streams until the server ends the stream, it fails, or `signal` aborts. */
export async function streamSession(
  conn: SessionConnection,
  d: SessionDeps,
): Promise<void> {
  const queue = new FrameQueue(conn);
  const from = d.from();
  const done = conn.start(
    d.slot,
    from,
    d.pluginOptions,
    (chunk) => {
      d.bytesRead?.(chunk.byteLength);
      queue.push(chunk);
    },
  ).finally(() => queue.end());
  d.connected(true);
  d.log.info("streaming", { slot: d.slot, from: formatLsn(from) });
  // Clean stop: finish what is in flight, confirm it, then end COPY (no
  // CopyData may follow CopyDone, so the final status goes first).
  const onAbort = async () => {
    await Promise.race([d.drain(), sleep(d.stopDrainMs ?? 10_000)]);
    d.sendStatus(true);
    conn.resume();
    conn.stop();
  };
  d.signal.addEventListener("abort", onAbort, { once: true });
  const process = (async () => {
    while (!d.signal.aborted) {
      const raw = await queue.next();
      if (raw === undefined || d.signal.aborted) return;
      const frame = parseFrame(raw);
      if (frame.kind === "xlogdata") d.sawData();
      await d.handle(frame);
      if (frame.kind === "keepalive" && frame.replyRequested) {
        d.sendStatus(true);
      }
    }
  })();
  try {
    // A producer that stopped for good (see sink.ts) ends streaming too.
    await Promise.race([Promise.all([done, process]), d.failed]);
  } finally {
    d.signal.removeEventListener("abort", onAbort);
    d.connected(false);
  }
}
