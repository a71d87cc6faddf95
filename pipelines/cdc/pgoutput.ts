/**
 * Decoder for the streaming replication protocol frames (inside CopyData)
 * and for the `pgoutput` logical decoding messages (protocol version 1).
 *
 * Pure functions over bytes, so they are unit-tested with captured frames.
 * Reference: PostgreSQL docs, "Streaming Replication Protocol" and
 * "Logical Replication Message Formats".
 *
 * @module
 */
import type { Lsn } from "./lsn.ts";

/** Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/** Converts a PostgreSQL timestamp (µs since 2000-01-01) to Unix ms. */
export function pgTimestampToMs(us: bigint): number {
  return Number((us + PG_EPOCH_OFFSET_US) / 1000n);
}

/** Converts Unix ms to a PostgreSQL timestamp (µs since 2000-01-01). */
export function msToPgTimestamp(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1000n - PG_EPOCH_OFFSET_US;
}

/** `w` frame: a chunk of WAL data (one pgoutput message for logical slots). */
export interface XLogData {
  kind: "xlogdata";
  /** WAL position of the data (0 for messages without one, e.g. Relation). */
  walStart: Lsn;
  walEnd: Lsn;
  sendTimeMs: number;
  payload: Uint8Array;
}

/** `k` frame: the server's keepalive; `walEnd` is everything sent so far. */
export interface PrimaryKeepalive {
  kind: "keepalive";
  walEnd: Lsn;
  sendTimeMs: number;
  replyRequested: boolean;
}

/** One frame of the replication stream. */
export type ReplicationFrame = XLogData | PrimaryKeepalive;

/** Parses one CopyData payload of the replication stream. */
export function parseFrame(buf: Uint8Array): ReplicationFrame {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = buf[0];
  if (tag === 0x77 /* w */) {
    return {
      kind: "xlogdata",
      walStart: view.getBigUint64(1),
      walEnd: view.getBigUint64(9),
      sendTimeMs: pgTimestampToMs(view.getBigInt64(17)),
      payload: buf.subarray(25),
    };
  }
  if (tag === 0x6b /* k */) {
    return {
      kind: "keepalive",
      walEnd: view.getBigUint64(1),
      sendTimeMs: pgTimestampToMs(view.getBigInt64(9)),
      replyRequested: buf[17] === 1,
    };
  }
  throw new Error(`unknown replication frame tag 0x${tag?.toString(16)}`);
}

/**
 * Encodes a Standby Status Update (`r`): the positions written, flushed and
 * applied. For logical slots the server stores `flush` as the slot's
 * `confirmed_flush_lsn`, i.e. the point a restart resumes from.
 */
export function encodeStandbyStatus(
  write: Lsn,
  flush: Lsn,
  apply: Lsn,
  nowMs: number,
  replyRequested = false,
): Uint8Array {
  const buf = new Uint8Array(34);
  const view = new DataView(buf.buffer);
  buf[0] = 0x72; // r
  view.setBigUint64(1, write);
  view.setBigUint64(9, flush);
  view.setBigUint64(17, apply);
  view.setBigInt64(25, msToPgTimestamp(nowMs));
  buf[33] = replyRequested ? 1 : 0;
  return buf;
}

/** One column value of a tuple. */
export type TupleValue =
  | { kind: "null" }
  /** TOASTed value that did not change (not sent by the server). */
  | { kind: "unchanged" }
  | { kind: "text"; text: string }
  | { kind: "binary"; bytes: Uint8Array };

/** A column of a Relation message. */
export interface RelationColumn {
  /** Part of the replica identity (all columns under REPLICA IDENTITY FULL). */
  isKey: boolean;
  name: string;
  typeOid: number;
  typeMod: number;
}

/** Replica identity setting of a relation. */
export type ReplicaIdentity = "default" | "nothing" | "full" | "index";

/** Decoded pgoutput messages. */
export type PgOutputMessage =
  | {
    tag: "begin";
    finalLsn: Lsn;
    commitTimeMs: number;
    /** Commit time in µs since the Unix epoch (`source.ts_us`). */
    commitTimeUs: bigint;
    xid: number;
  }
  | {
    tag: "commit";
    flags: number;
    commitLsn: Lsn;
    endLsn: Lsn;
    commitTimeMs: number;
  }
  | { tag: "origin"; lsn: Lsn; name: string }
  | {
    tag: "relation";
    relationOid: number;
    schema: string;
    name: string;
    replicaIdentity: ReplicaIdentity;
    columns: RelationColumn[];
  }
  | { tag: "type"; typeOid: number; schema: string; name: string }
  | { tag: "insert"; relationOid: number; newTuple: TupleValue[] }
  | {
    tag: "update";
    relationOid: number;
    /** `K`: identity columns only; `O`: the full old row (REPLICA IDENTITY FULL). */
    oldKind?: "key" | "old";
    oldTuple?: TupleValue[];
    newTuple: TupleValue[];
  }
  | {
    tag: "delete";
    relationOid: number;
    oldKind: "key" | "old";
    oldTuple: TupleValue[];
  }
  | {
    tag: "truncate";
    cascade: boolean;
    restartIdentity: boolean;
    relationOids: number[];
  }
  | {
    tag: "message";
    transactional: boolean;
    lsn: Lsn;
    prefix: string;
    content: Uint8Array;
  };

const REPLICA_IDENTITY: Record<string, ReplicaIdentity> = {
  d: "default",
  n: "nothing",
  f: "full",
  i: "index",
};

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** A cursor over a message's bytes. */
class Reader {
  #pos = 0;
  readonly #view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.#pos++];
  }
  i16(): number {
    this.#need(2);
    const v = this.#view.getInt16(this.#pos);
    this.#pos += 2;
    return v;
  }
  i32(): number {
    this.#need(4);
    const v = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return v;
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }
  u64(): bigint {
    this.#need(8);
    const v = this.#view.getBigUint64(this.#pos);
    this.#pos += 8;
    return v;
  }
  i64(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.#pos);
    this.#pos += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.#pos);
    if (end < 0) throw new Error("pgoutput: unterminated string");
    const s = utf8.decode(this.buf.subarray(this.#pos, end));
    this.#pos = end + 1;
    return s;
  }
  bytes(n: number): Uint8Array {
    this.#need(n);
    const b = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }
  #need(n: number): void {
    if (this.#pos + n > this.buf.length) {
      throw new Error("pgoutput: message truncated");
    }
  }
}

function readTuple(r: Reader): TupleValue[] {
  const n = r.i16();
  const out: TupleValue[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.u8();
    switch (kind) {
      case 0x6e: // n
        out[i] = { kind: "null" };
        break;
      case 0x75: // u
        out[i] = { kind: "unchanged" };
        break;
      case 0x74: { // t
        const len = r.i32();
        out[i] = { kind: "text", text: utf8.decode(r.bytes(len)) };
        break;
      }
      case 0x62: { // b (binary, protocol ≥ 2 with binary 'true')
        const len = r.i32();
        out[i] = { kind: "binary", bytes: r.bytes(len) };
        break;
      }
      default:
        throw new Error(
          `pgoutput: unknown tuple column kind 0x${kind.toString(16)}`,
        );
    }
  }
  return out;
}

function oldKind(byte: number): "key" | "old" {
  if (byte === 0x4b /* K */) return "key";
  if (byte === 0x4f /* O */) return "old";
  throw new Error(`pgoutput: expected K or O, got 0x${byte.toString(16)}`);
}

/** Decodes one pgoutput message (protocol version 1). */
export function decodePgOutput(buf: Uint8Array): PgOutputMessage {
  const r = new Reader(buf);
  const tag = r.u8();
  switch (tag) {
    case 0x42: { // B
      const finalLsn = r.u64();
      const pgUs = r.i64();
      return {
        tag: "begin",
        finalLsn,
        commitTimeMs: pgTimestampToMs(pgUs),
        commitTimeUs: pgUs + PG_EPOCH_OFFSET_US,
        xid: r.u32(),
      };
    }
    case 0x43: // C
      return {
        tag: "commit",
        flags: r.u8(),
        commitLsn: r.u64(),
        endLsn: r.u64(),
        commitTimeMs: pgTimestampToMs(r.i64()),
      };
    case 0x4f: // O
      return { tag: "origin", lsn: r.u64(), name: r.cstring() };
    case 0x52: { // R
      const relationOid = r.u32();
      const schema = r.cstring();
      const name = r.cstring();
      const ident = String.fromCharCode(r.u8());
      const n = r.i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8();
        columns.push({
          isKey: (flags & 1) === 1,
          name: r.cstring(),
          typeOid: r.u32(),
          typeMod: r.i32(),
        });
      }
      return {
        tag: "relation",
        relationOid,
        schema,
        name,
        replicaIdentity: REPLICA_IDENTITY[ident] ?? "default",
        columns,
      };
    }
    case 0x59: // Y
      return {
        tag: "type",
        typeOid: r.u32(),
        schema: r.cstring(),
        name: r.cstring(),
      };
    case 0x49: { // I
      const relationOid = r.u32();
      const n = r.u8();
      if (n !== 0x4e) throw new Error("pgoutput: insert without N tuple");
      return { tag: "insert", relationOid, newTuple: readTuple(r) };
    }
    case 0x55: { // U
      const relationOid = r.u32();
      let marker = r.u8();
      let old: { oldKind: "key" | "old"; oldTuple: TupleValue[] } | undefined;
      if (marker === 0x4b || marker === 0x4f) {
        old = { oldKind: oldKind(marker), oldTuple: readTuple(r) };
        marker = r.u8();
      }
      if (marker !== 0x4e) throw new Error("pgoutput: update without N tuple");
      return { tag: "update", relationOid, ...old, newTuple: readTuple(r) };
    }
    case 0x44: { // D
      const relationOid = r.u32();
      const kind = oldKind(r.u8());
      return {
        tag: "delete",
        relationOid,
        oldKind: kind,
        oldTuple: readTuple(r),
      };
    }
    case 0x54: { // T
      const n = r.u32();
      const options = r.u8();
      const relationOids: number[] = [];
      for (let i = 0; i < n; i++) relationOids.push(r.u32());
      return {
        tag: "truncate",
        cascade: (options & 1) === 1,
        restartIdentity: (options & 2) === 2,
        relationOids,
      };
    }
    case 0x4d: { // M
      const flags = r.u8();
      const lsn = r.u64();
      const prefix = r.cstring();
      const len = r.u32();
      return {
        tag: "message",
        transactional: (flags & 1) === 1,
        lsn,
        prefix,
        content: r.bytes(len),
      };
    }
    default:
      throw new Error(
        `pgoutput: unknown message tag ${
          JSON.stringify(String.fromCharCode(tag))
        }`,
      );
  }
}
