/**
 * The unit of work of the decode workers (`--workers N`): a run of messages
 * of one partition of an event topic, packed as one byte buffer (the raw
 * Kafka values back to back, transferable without a copy), and what it
 * becomes: the open JSONEachRow lines of the valid messages (validate.ts),
 * their event times, and the dead letters with their reasons.
 *
 * {@link decodeChunk} is the same pure function in a worker and on the main
 * thread (the fallback after a worker crash), so both give identical rows:
 * a range re-formed after a crash stays byte-identical whichever thread
 * decoded it.
 *
 * @module
 */
import { EVENT_TABLES, type EventTable } from "./tables.ts";
import { encodeEvent } from "./validate.ts";

/** Packed messages of one partition, in offset order. */
export interface Chunk {
  table: EventTable["name"];
  topic: string;
  partition: number;
  /** The values' UTF-8 bytes back to back. */
  data: Uint8Array<ArrayBuffer>;
  /** Byte length of each value; -1 for a null value (tombstone). */
  lengths: Int32Array<ArrayBuffer>;
  offsets: Float64Array<ArrayBuffer>;
}

/** What a chunk became, index by index of its messages. */
export interface Decoded {
  /** The open lines of the valid messages, in order, joined by "\n". */
  text: string;
  /** Event time (epoch ms) per message; NaN for a dead letter. */
  eventMs: Float64Array<ArrayBuffer>;
  /** Dead letters: [message index, reason, original text]. */
  dead: Array<[number, string, string]>;
}

/** A Kafka message as KafkaJS hands it over (only what is packed). */
export interface RawMessage {
  offset: string;
  value: Uint8Array | null;
}

/**
 * Packs `messages[from, to)` into a {@link Chunk} (one copy of the value
 * bytes into a fresh buffer that can be transferred to a worker).
 */
export function packChunk(
  table: EventTable["name"],
  topic: string,
  partition: number,
  messages: ReadonlyArray<RawMessage>,
  from = 0,
  to = messages.length,
): Chunk {
  const n = to - from;
  const lengths = new Int32Array(n);
  const offsets = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = messages[from + i].value;
    lengths[i] = v === null ? -1 : v.byteLength;
    if (v !== null) total += v.byteLength;
    offsets[i] = Number(messages[from + i].offset);
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = messages[from + i].value;
    if (v === null) continue;
    data.set(v, at);
    at += v.byteLength;
  }
  return { table, topic, partition, data, lengths, offsets };
}

/** Bytes a chunk holds while in flight (values plus per-message arrays). */
export function chunkBytes(c: Chunk): number {
  return c.data.byteLength + c.lengths.byteLength + c.offsets.byteLength;
}

const decoder = new TextDecoder();

/** Validates and encodes every message of `c` (see module docs). */
export function decodeChunk(c: Chunk): Decoded {
  const table = EVENT_TABLES[c.table];
  const n = c.lengths.length;
  const eventMs = new Float64Array(n);
  const lines: string[] = [];
  const dead: Array<[number, string, string]> = [];
  const meta = { topic: c.topic, partition: c.partition, offset: 0 };
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = c.lengths[i];
    if (len < 0) {
      eventMs[i] = NaN;
      dead.push([i, "empty message (null value)", ""]);
      continue;
    }
    const text = decoder.decode(c.data.subarray(at, at + len));
    at += len;
    meta.offset = c.offsets[i];
    const enc = encodeEvent(table, text, meta);
    if (!enc.ok) {
      eventMs[i] = NaN;
      dead.push([i, enc.reason, text]);
      continue;
    }
    eventMs[i] = enc.eventMs ?? NaN;
    lines.push(enc.line);
  }
  // Lines hold no raw newline (JSON escapes it), so one string carries them
  // all: one clone across threads instead of one per row.
  return { text: lines.join("\n"), eventMs, dead };
}

/**
 * The messages of a chunk as the ranges take them: for index `i`, either
 * the line or the dead letter, in order. Calls `row` / `deadLetter` per
 * message.
 */
export function eachDecoded(
  d: Decoded,
  count: number,
  row: (i: number, line: string, eventMs: number) => void,
  deadLetter: (i: number, reason: string, original: string) => void,
): void {
  const lines = count > d.dead.length ? d.text.split("\n") : [];
  let l = 0, k = 0;
  for (let i = 0; i < count; i++) {
    const dl = d.dead[k];
    if (dl && dl[0] === i) {
      deadLetter(i, dl[1], dl[2]);
      k++;
    } else row(i, lines[l++], d.eventMs[i]);
  }
}
