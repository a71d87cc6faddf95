/**
 * The unit of work of the decode workers (`--workers N`): a run of messages
 * of one partition, packed as one byte buffer (the raw Kafka values back to
 * back, transferable without a copy), and what it becomes: for an event
 * table the open JSONEachRow lines of the valid messages (validate.ts) and
 * their event times; for any table (`--map`) the complete lines
 * (table_row.ts, typed by the table's columns); and the dead letters with
 * their reasons.
 *
 * {@link decodeChunk} is the same pure function in a worker and on the main
 * thread (the fallback after a worker crash), so both give identical rows:
 * a range re-formed after a crash stays byte-identical whichever thread
 * decoded it.
 *
 * @module
 */
import {
  buildRowConverter,
  type ColumnInfo,
  type RowConverter,
} from "./row.ts";
import { tableRow } from "./table_row.ts";
import { EVENT_TABLES, type EventTable } from "./tables.ts";
import { encodeEvent } from "./validate.ts";

/** What a chunk's messages become. */
export type ChunkTarget =
  | { kind: "event"; table: EventTable["name"] }
  | {
    kind: "table";
    insertTable: string;
    columns: ColumnInfo[];
    strict: boolean;
    /** The ingest time (epoch s) the rows are built with. */
    ingestedSec: number;
  };

/** Packed messages of one partition, in offset order. */
export interface Chunk {
  target: ChunkTarget;
  topic: string;
  partition: number;
  /** The values' UTF-8 bytes back to back. */
  data: Uint8Array<ArrayBuffer>;
  /** Byte length of each value; -1 for a null value (tombstone). */
  lengths: Int32Array<ArrayBuffer>;
  offsets: Float64Array<ArrayBuffer>;
  /** Table targets only: the keys packed like the values, and timestamps. */
  keys?: Uint8Array<ArrayBuffer>;
  keyLengths?: Int32Array<ArrayBuffer>;
  timestamps?: Float64Array<ArrayBuffer>;
}

/** What a chunk became, index by index of its messages. */
export interface Decoded {
  /** The lines of the valid messages, in order, joined by "\n". */
  text: string;
  /** The lines themselves instead, should one hold a raw "\n". */
  lines?: string[];
  /** Event time (epoch ms) per message; NaN for a dead letter. */
  eventMs: Float64Array<ArrayBuffer>;
  /** Dead letters: [message index, reason, original text]. */
  dead: Array<[number, string, string]>;
  /** Table targets: fields without a column, per message. */
  unknown?: Int32Array<ArrayBuffer>;
}

/** A Kafka message as KafkaJS hands it over (only what is packed). */
export interface RawMessage {
  offset: string;
  value: Uint8Array | null;
  key?: Uint8Array | null;
  timestamp?: string;
}

/** Packs each message's `pick` bytes back to back, with their lengths. */
function packBytes(
  messages: ReadonlyArray<RawMessage>,
  from: number,
  to: number,
  pick: (m: RawMessage) => Uint8Array | null | undefined,
): [Uint8Array<ArrayBuffer>, Int32Array<ArrayBuffer>] {
  const n = to - from;
  const lengths = new Int32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = pick(messages[from + i]);
    lengths[i] = v === null || v === undefined ? -1 : v.byteLength;
    if (lengths[i] > 0) total += lengths[i];
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = pick(messages[from + i]);
    if (v === null || v === undefined) continue;
    data.set(v, at);
    at += v.byteLength;
  }
  return [data, lengths];
}

/**
 * Packs `messages[from, to)` into a {@link Chunk} (one copy of the value
 * bytes into a fresh buffer that can be transferred to a worker).
 */
export function packChunk(
  target: ChunkTarget,
  topic: string,
  partition: number,
  messages: ReadonlyArray<RawMessage>,
  from = 0,
  to = messages.length,
): Chunk {
  const n = to - from;
  const offsets = new Float64Array(n);
  for (let i = 0; i < n; i++) offsets[i] = Number(messages[from + i].offset);
  const [data, lengths] = packBytes(messages, from, to, (m) => m.value);
  const chunk: Chunk = { target, topic, partition, data, lengths, offsets };
  if (target.kind === "table") {
    [chunk.keys, chunk.keyLengths] = packBytes(
      messages,
      from,
      to,
      (m) => m.key,
    );
    chunk.timestamps = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      chunk.timestamps[i] = Number(messages[from + i].timestamp);
    }
  }
  return chunk;
}

/** Bytes a chunk holds while in flight (values plus per-message arrays). */
export function chunkBytes(c: Chunk): number {
  return c.data.byteLength + c.lengths.byteLength + c.offsets.byteLength +
    (c.keys?.byteLength ?? 0) + (c.keyLengths?.byteLength ?? 0) +
    (c.timestamps?.byteLength ?? 0);
}

/** The buffers of a chunk, to transfer. */
export function chunkBuffers(c: Chunk): ArrayBuffer[] {
  const out = [c.data.buffer, c.lengths.buffer, c.offsets.buffer];
  if (c.keys) out.push(c.keys.buffer);
  if (c.keyLengths) out.push(c.keyLengths.buffer);
  if (c.timestamps) out.push(c.timestamps.buffer);
  return out;
}

const decoder = new TextDecoder();

/** Validates and encodes every message of `c` (see module docs). */
export function decodeChunk(c: Chunk): Decoded {
  return c.target.kind === "event"
    ? decodeEvents(c, c.target.table)
    : decodeRows(c, c.target);
}

function decodeEvents(c: Chunk, name: EventTable["name"]): Decoded {
  const table = EVENT_TABLES[name];
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
  return { ...joined(lines), eventMs, dead };
}

/**
 * Lines hold no raw newline (JSON escapes it), so one string carries them
 * all: one clone across threads instead of one per row. Checked anyway.
 */
function joined(lines: string[]): { text: string; lines?: string[] } {
  const text = lines.join("\n");
  let n = lines.length ? 1 : 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n === lines.length ? { text } : { text: "", lines };
}

/** Converters by their columns (a worker keeps them across chunks). */
const converters = new Map<string, RowConverter>();

function converterOf(columns: ColumnInfo[]): RowConverter {
  const key = JSON.stringify(columns);
  let conv = converters.get(key);
  if (!conv) {
    if (converters.size > 64) converters.clear();
    converters.set(key, conv = buildRowConverter(columns));
  }
  return conv;
}

function decodeRows(
  c: Chunk,
  t: Extract<ChunkTarget, { kind: "table" }>,
): Decoded {
  const dest = {
    kind: "table" as const,
    insertTable: t.insertTable,
    converter: converterOf(t.columns),
    strict: t.strict,
  };
  const n = c.lengths.length;
  const eventMs = new Float64Array(n).fill(NaN);
  const unknown = new Int32Array(n);
  const lines: string[] = [];
  const dead: Array<[number, string, string]> = [];
  let at = 0, keyAt = 0;
  for (let i = 0; i < n; i++) {
    const len = c.lengths[i];
    const value = len < 0
      ? null
      : decoder.decode(c.data.subarray(at, at + len));
    if (len > 0) at += len;
    const kl = c.keyLengths![i];
    const key = kl < 0
      ? null
      : decoder.decode(c.keys!.subarray(keyAt, keyAt + kl));
    if (kl > 0) keyAt += kl;
    const out = tableRow(
      dest,
      {
        topic: c.topic,
        partition: c.partition,
        offset: c.offsets[i],
        value,
        key,
        timestampMs: c.timestamps![i],
      },
      1,
      t.ingestedSec,
    );
    if (out.kind === "row") {
      lines.push(out.line);
      unknown[i] = out.unknown ?? 0;
    } else if (out.kind === "dead") dead.push([i, out.reason, out.original]);
  }
  return { ...joined(lines), eventMs, dead, unknown };
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
  const lines = d.lines ??
    (count > d.dead.length ? d.text.split("\n") : []);
  let l = 0, k = 0;
  for (let i = 0; i < count; i++) {
    const dl = d.dead[k];
    if (dl && dl[0] === i) {
      deadLetter(i, dl[1], dl[2]);
      k++;
    } else row(i, lines[l++], d.eventMs[i]);
  }
}
