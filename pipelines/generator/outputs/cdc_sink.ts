/**
 * Where CDC transactions go: PostgreSQL (see `postgres.ts`) or NDJSON lines
 * on stdout / in rotating files ({@link LineCdcSink}). Both count what they
 * did per table and operation, for the summary and the metrics.
 *
 * @module
 */
import { IsoFormatter } from "../clock.ts";
import {
  CDC_OPS,
  CDC_TABLES,
  type CdcChange,
  type CdcOp,
  type CdcTable,
  encodeChange,
} from "../models/cdc.ts";
import type { LineOutput, OutputStats } from "./types.ts";

/** Row changes per table and operation. */
export type CdcCounts = Record<CdcTable, Record<CdcOp, number>>;

/** Zeroed counts. */
export function newCdcCounts(): CdcCounts {
  const c = {} as CdcCounts;
  for (const t of CDC_TABLES) {
    c[t] = {} as Record<CdcOp, number>;
    for (const op of CDC_OPS) c[t][op] = 0;
  }
  return c;
}

/** A destination for CDC transactions. */
export interface CdcSink {
  /** `postgres`, `file` or `stdout`. */
  readonly name: string;
  /** Row changes done (PostgreSQL: confirmed by row counts). */
  readonly applied: CdcCounts;
  /** Transactions committed / written. */
  readonly transactions: number;
  /** Changes that touched no row or were refused. */
  readonly skipped: number;
  /** Failed transactions. */
  readonly errors: number;
  /** Stats of the underlying line output (file/stdout), if any. */
  readonly outputStats?: OutputStats;
  /** Called before each transaction is planned (e.g. reserve ids). */
  prepare?(): Promise<void>;
  /** Applies or writes one transaction. */
  apply(tx: CdcChange[], txId: number, timestampMs: number): Promise<void>;
  /** Periodic housekeeping. */
  tick(): Promise<void>;
  /** Writes out everything buffered. */
  flush(): Promise<void>;
}

/** Writes each change as one NDJSON line (`cdc_change.schema.json`). */
export class LineCdcSink implements CdcSink {
  readonly applied: CdcCounts = newCdcCounts();
  transactions = 0;
  readonly skipped = 0;
  readonly errors = 0;
  readonly #iso = new IsoFormatter();

  /** Writes into `out`. */
  constructor(readonly out: LineOutput) {}

  /** The output's name. */
  get name(): string {
    return this.out.name;
  }

  /** The output's stats (bytes, files). */
  get outputStats(): OutputStats {
    return this.out.stats;
  }

  /** Writes the transaction's lines. */
  apply(tx: CdcChange[], txId: number, ts: number): Promise<void> {
    const stamp = this.#iso.format(ts);
    for (let i = 0; i < tx.length; i++) {
      this.out.writeLine(encodeChange(tx[i], txId, i, tx.length, stamp));
      this.applied[tx[i].table][tx[i].op]++;
    }
    this.transactions++;
    return Promise.resolve();
  }

  /** Output housekeeping. */
  tick(): Promise<void> {
    return this.out.tick();
  }

  /** Flushes the output. */
  flush(): Promise<void> {
    return this.out.flush();
  }
}
