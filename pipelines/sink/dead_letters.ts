/**
 * The dead-letter topic copy of a flush's dead letters, bounded: each
 * message's original is cut to a sample (its size recorded, as the shipper
 * does), and messages go out in requests under the broker's 1 MB limit. A
 * request that still cannot be written (refused as too large, a missing or
 * forbidden topic, or failing for `giveUpAfter` attempts) is given up: it
 * is logged, counted in `sink_dead_letters_unwritten_total`, and the flush
 * goes on, so valid rows are never held back by a dead letter. The dead
 * letters themselves are already in `analytics.dead_letter` by then.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Producer } from "kafkajs";
import {
  backoffMs,
  type Logger,
  type PartitionCounts,
  sendAllAcked,
  sleep,
} from "../runtime/mod.ts";
import type { DeadLetter } from "./batch.ts";
import { deadLetterMessage, type TakenRange } from "./encoder.ts";
import { Aborted } from "./service.ts";

/** Most characters of an original kept in a dead-letter message. */
export const DLQ_ORIGINAL_MAX_CHARS = 64 * 1024;
/** Most bytes per produce request (broker message.max.bytes is ~1 MB). */
export const DLQ_REQUEST_MAX_BYTES = 900 * 1024;
/** Attempts of one request on retriable errors before giving up. */
export const DLQ_GIVE_UP_AFTER = 5;

/** A dead-letter topic message. */
export interface DlqMessage {
  key: string;
  value: string;
}

/**
 * The topic message of one dead letter (encoder.ts `deadLetterMessage`, the
 * shared contract), its original cut to `maxChars` characters with the
 * original's size in bytes recorded.
 */
export function boundedMessage(
  t: TakenRange,
  dl: DeadLetter,
  maxChars = DLQ_ORIGINAL_MAX_CHARS,
): DlqMessage {
  if (dl.original.length <= maxChars) return deadLetterMessage(t, dl);
  const bytes = Buffer.byteLength(dl.original);
  const m = deadLetterMessage(t, {
    offset: dl.offset,
    reason:
      `${dl.reason} (original of ${bytes} bytes truncated to ${maxChars} characters)`,
    original: dl.original.slice(0, maxChars),
  });
  return {
    key: m.key,
    value: JSON.stringify({ ...JSON.parse(m.value), original_bytes: bytes }),
  };
}

/** Bytes a message takes in a request (UTF-8 key + value + framing). */
function sizeOf(m: DlqMessage): number {
  return Buffer.byteLength(m.key) + Buffer.byteLength(m.value) + 70;
}

/** Splits `messages`, in order, into requests of at most `maxBytes`. */
export function chunkMessages(
  messages: DlqMessage[],
  maxBytes = DLQ_REQUEST_MAX_BYTES,
): DlqMessage[][] {
  const out: DlqMessage[][] = [];
  let cur: DlqMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const s = sizeOf(m);
    if (cur.length > 0 && bytes + s > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += s;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Errors no retry of the same request can fix. */
export function isPermanent(err: unknown): boolean {
  for (
    let e = err as Record<string, unknown> | undefined, i = 0;
    e && i < 5;
    i++
  ) {
    if (
      [
        "MESSAGE_TOO_LARGE",
        "RECORD_LIST_TOO_LARGE",
        "INVALID_RECORD",
        "TOPIC_AUTHORIZATION_FAILED",
        "INVALID_TOPIC_EXCEPTION",
      ].includes(String(e.type))
    ) return true;
    if (/larger than the max message size/i.test(String(e.message ?? ""))) {
      return true;
    }
    e = (e.cause ?? e.originalError) as Record<string, unknown> | undefined;
  }
  return false;
}

/**
 * Writes `messages` to `topic` in bounded requests; returns how many were
 * given up (see the module docs). Throws {@link Aborted} on shutdown.
 */
export async function sendDeadLetters(o: {
  producer: Pick<Producer, "sendBatch">;
  /** Partition counts: every partition written must be acknowledged. */
  partitions: Pick<PartitionCounts, "of" | "invalidate">;
  topic: string;
  messages: DlqMessage[];
  signal: AbortSignal;
  log: Logger;
  giveUpAfter?: number;
  onUnwritten?: (n: number) => void;
}): Promise<number> {
  let unwritten = 0;
  const rr = new Map<string, number>();
  for (const chunk of chunkMessages(o.messages)) {
    for (let attempt = 0;; attempt++) {
      try {
        await sendAllAcked(
          o.producer,
          { topicMessages: [{ topic: o.topic, messages: chunk }] },
          { partitions: o.partitions, rr, log: o.log },
        );
        break;
      } catch (err) {
        if (o.signal.aborted) throw new Aborted();
        const permanent = isPermanent(err);
        if (permanent || attempt + 1 >= (o.giveUpAfter ?? DLQ_GIVE_UP_AFTER)) {
          unwritten += chunk.length;
          o.onUnwritten?.(chunk.length);
          o.log.error(
            "dead letters could not be written to the dead-letter topic; giving up on them (they are in analytics.dead_letter) so valid rows move on",
            {
              dlq: o.topic,
              messages: chunk.length,
              first_source: chunk[0].key,
              attempts: attempt + 1,
              permanent,
              err,
            },
          );
          break;
        }
        o.log.warn("dead-letter topic write failed, retrying", {
          err,
          attempt,
        });
        await sleep(backoffMs(attempt, 500, 10_000), o.signal);
      }
    }
  }
  return unwritten;
}
