/**
 * The replication connection (`replication=database`) over `npm:pg`: slot
 * creation with an exported snapshot, `START_REPLICATION` in COPY BOTH mode,
 * standby status updates, and socket-level backpressure (pause/resume).
 *
 * pg's Client already understands CopyBothResponse and emits `copyData` on
 * its connection; status updates go back as CopyData frames.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPgClient, type pg } from "../runtime/postgres.ts";
import { SESSION_OPTIONS } from "./convert.ts";
import { formatLsn, type Lsn, parseLsn } from "./lsn.ts";
import { encodeStandbyStatus } from "./pgoutput.ts";

/** The parts of pg's internal Connection the relay uses. */
interface RawConnection {
  on(event: "copyData", fn: (msg: { chunk: Uint8Array }) => void): void;
  removeAllListeners(event: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void; destroy(): void };
}

/** Result of `CREATE_REPLICATION_SLOT`. */
export interface CreatedSlot {
  consistentPoint: Lsn;
  /** Exported snapshot name, valid while this connection stays idle. */
  snapshotName: string | null;
}

/** A replication-protocol connection. */
export class ReplicationConnection {
  #client: pg.Client;
  #closed = false;
  #error: Error | undefined;

  private constructor(client: pg.Client) {
    this.#client = client;
    // Without a listener an 'error' event would crash the process; the
    // failure surfaces through the pending query instead.
    client.on("error", (err) => this.#error = err);
  }

  /** Opens the connection (`replication=database`, pinned session formats). */
  static async open(
    url: string,
    applicationName: string,
  ): Promise<ReplicationConnection> {
    const client = createPgClient({
      url,
      applicationName,
      replication: "database",
      options: SESSION_OPTIONS,
    });
    const conn = new ReplicationConnection(client);
    await client.connect();
    return conn;
  }

  get #raw(): RawConnection {
    return (this.#client as unknown as { connection: RawConnection })
      .connection;
  }

  /** `IDENTIFY_SYSTEM`: system id, timeline, current WAL position, database. */
  async identify(): Promise<
    { systemId: string; timeline: number; xlogpos: Lsn; db: string }
  > {
    const r = await this.#client.query("IDENTIFY_SYSTEM");
    const row = r.rows[0];
    return {
      systemId: String(row.systemid),
      timeline: Number(row.timeline),
      xlogpos: parseLsn(row.xlogpos),
      db: row.dbname,
    };
  }

  /**
   * Creates a logical pgoutput slot. With `exportSnapshot`, the returned
   * snapshot sees exactly the data before `consistentPoint`; the stream from
   * the slot has exactly the changes after it — no gap, no overlap.
   */
  async createSlot(
    slot: string,
    exportSnapshot: boolean,
  ): Promise<CreatedSlot> {
    const r = await this.#client.query(
      `CREATE_REPLICATION_SLOT ${quoteSlot(slot)} LOGICAL pgoutput ${
        exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"
      }`,
    );
    const row = r.rows[0];
    return {
      consistentPoint: parseLsn(row.consistent_point),
      snapshotName: row.snapshot_name ?? null,
    };
  }

  /**
   * Streams from the slot, calling `onData` with each CopyData payload in
   * order. Resolves when the server ends the stream (after {@link stop}),
   * rejects on errors such as "slot is active".
   */
  start(
    slot: string,
    startLsn: Lsn,
    options: Record<string, string>,
    onData: (payload: Uint8Array) => void,
  ): Promise<void> {
    const opts = Object.entries(options).map(([k, v]) =>
      `${quoteSlot(k)} '${v.replace(/'/g, "''")}'`
    ).join(", ");
    this.#raw.on("copyData", (msg) => onData(msg.chunk));
    const sql = `START_REPLICATION SLOT ${quoteSlot(slot)} LOGICAL ${
      formatLsn(startLsn)
    } (${opts})`;
    return this.#client.query(sql).then(() => {
      if (this.#error && !this.#closed) throw this.#error;
    });
  }

  /** Sends a Standby Status Update. */
  sendStatus(write: Lsn, flush: Lsn, apply: Lsn, replyRequested = false): void {
    if (this.#closed) return;
    const msg = encodeStandbyStatus(
      write,
      flush,
      apply,
      Date.now(),
      replyRequested,
    );
    this.#raw.sendCopyFromChunk(
      Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength),
    );
  }

  /** Stops reading from the socket (backpressure). */
  pause(): void {
    this.#raw.stream.pause();
  }

  /** Resumes reading. */
  resume(): void {
    this.#raw.stream.resume();
  }

  /** Ends COPY (the server then ends the stream) — a clean stop. */
  stop(): void {
    if (this.#closed) return;
    try {
      this.#raw.endCopyFrom();
    } catch { /* connection already gone */ }
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.removeAllListeners("copyData");
    try {
      await Promise.race([
        this.#client.end(),
        new Promise((r) => setTimeout(r, 2_000)),
      ]);
    } catch { /* already closed */ }
    try {
      this.#raw.stream.destroy();
    } catch { /* ignore */ }
  }
}

/** Slot names and option keys are identifiers; reject anything else. */
function quoteSlot(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new Error(
      `invalid name ${
        JSON.stringify(name)
      }: use lower-case letters, digits and _`,
    );
  }
  return name;
}
