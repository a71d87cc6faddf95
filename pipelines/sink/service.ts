/**
 * ClickHouse transport: one `@clickhouse/client-web` client per replica,
 * grouped by shard. Inserts go to a shard's preferred replica; on a
 * connection or server failure the shard switches to its next replica and
 * retries with capped, jittered backoff — forever, until it succeeds or the
 * pipeline shuts down (never drop, never spin). Rows ClickHouse rejects are
 * reported back by row number so the caller can dead-letter them.
 *
 * @module
 */
import {
  type ClickHouseClient,
  createClickHouse,
  type Logger,
  SERVICE_RETRY,
  sleep,
  sqlIdentifier,
} from "../runtime/mod.ts";
import type { SinkMetrics } from "./metrics.ts";

/** ClickHouse refused a specific row of the body (1-based `row`). */
export class RowRejected extends Error {
  /** Creates the error for `row` (1-based line of the body). */
  constructor(readonly row: number, message: string) {
    super(message);
    this.name = "RowRejected";
  }
}

/** Thrown when the pipeline stops while an operation is still retrying. */
export class Aborted extends Error {
  constructor() {
    super("aborted by shutdown");
    this.name = "Aborted";
  }
}

interface Replica {
  url: string;
  client: ClickHouseClient;
  /** Skip this replica until then (ms) after a failure. */
  downUntil: number;
}

/** Settings of the transport. */
export interface ServiceOptions {
  shards: string[][];
  username: string;
  password: string;
  log: Logger;
  metrics: SinkMetrics;
  /** Floor between two attempts on the same replica (the insert-rate rule). */
  minRetryMs: number;
  /** Request timeout per attempt. */
  requestTimeoutMs?: number;
}

/** Extracts ClickHouse's error code and text from any thrown value. */
export function describeError(err: unknown): { code?: number; text: string } {
  const text = err instanceof Error ? err.message : String(err);
  const m = /Code: (\d+)/.exec(text);
  const code = m
    ? Number(m[1])
    : (err as { code?: string })?.code
    ? Number((err as { code?: string }).code)
    : undefined;
  return {
    code: Number.isFinite(code) ? code : undefined,
    text: oneLine(text),
  };
}

function oneLine(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 500 ? t.slice(0, 500) + "…" : t;
}

/** The 1-based row a data error points at, if any. */
export function rejectedRow(text: string): number | undefined {
  const m = /\(at row (\d+)\)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Replica-aware ClickHouse access for the sink. */
export class ClickHouseService {
  readonly #shards: Replica[][];
  readonly #preferred: number[];
  readonly #opts: ServiceOptions;

  /** Creates clients for every replica (no connection is made yet). */
  constructor(opts: ServiceOptions) {
    this.#opts = opts;
    this.#shards = opts.shards.map((urls) =>
      urls.map((url) => ({
        url,
        downUntil: 0,
        client: createClickHouse({
          url,
          username: opts.username,
          password: opts.password,
          requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
          // Bodies are pre-encoded JSONEachRow text: pass them through.
          preEncoded: true,
        }),
      }))
    );
    this.#preferred = this.#shards.map(() => 0);
    for (const [s, replicas] of this.#shards.entries()) {
      for (const r of replicas) {
        opts.metrics.replicaUp.set({ shard: String(s + 1), replica: r.url }, 1);
      }
    }
  }

  /** Number of shards. */
  get shardCount(): number {
    return this.#shards.length;
  }

  /**
   * Runs `op` on a replica of `shard`, failing over and backing off until it
   * succeeds. `op` errors for which `fatal` returns true are rethrown at once.
   */
  async #withFailover<T>(
    shard: number,
    what: string,
    signal: AbortSignal,
    op: (r: Replica) => Promise<T>,
    fatal: (err: unknown) => boolean = () => false,
  ): Promise<T> {
    const replicas = this.#shards[shard];
    const { log, metrics, minRetryMs } = this.#opts;
    let attempt = 0;
    while (true) {
      if (signal.aborted) throw new Aborted();
      const now = Date.now();
      // Preferred replica first, unless it is cooling down after a failure.
      let idx = this.#preferred[shard];
      for (let k = 0; k < replicas.length; k++) {
        const j = (this.#preferred[shard] + k) % replicas.length;
        if (replicas[j].downUntil <= now) {
          idx = j;
          break;
        }
      }
      const r = replicas[idx];
      const labels = { shard: String(shard + 1), replica: r.url };
      try {
        const out = await op(r);
        r.downUntil = 0;
        this.#preferred[shard] = idx;
        metrics.replicaUp.set(labels, 1);
        return out;
      } catch (err) {
        if (fatal(err)) throw err;
        const e = describeError(err);
        metrics.replicaUp.set(labels, 0);
        metrics.insertErrors.inc(labels);
        const wait = Math.max(minRetryMs, SERVICE_RETRY.delayMs(attempt));
        r.downUntil = Date.now() + wait;
        this.#preferred[shard] = (idx + 1) % replicas.length;
        log.warn("clickhouse request failed, switching replica", {
          what,
          shard: shard + 1,
          replica: r.url,
          attempt,
          code: e.code,
          error: e.text,
        });
        attempt++;
        // Sleep only when every replica of the shard is cooling down.
        const next = Math.min(...replicas.map((x) => x.downUntil));
        if (next > Date.now()) await sleep(next - Date.now(), signal);
      }
    }
  }

  /**
   * Inserts a JSONEachRow `body` into `table` on `shard`. Resolves once a
   * replica acknowledged it; throws {@link RowRejected} when ClickHouse names
   * a bad row, {@link Aborted} on shutdown.
   */
  insert(
    shard: number,
    table: string,
    body: string,
    signal: AbortSignal,
    queryId: string,
    settings: Record<string, string | number> = {},
  ): Promise<void> {
    let attempt = 0;
    return this.#withFailover(shard, `insert ${table}`, signal, async (r) => {
      await r.client.insert({
        table,
        values: [body],
        format: "JSONEachRow",
        // One id per attempt: ClickHouse refuses a query_id still running.
        query_id: `${queryId}-${attempt++}`,
        clickhouse_settings: {
          insert_deduplicate: 1,
          log_queries: 1,
          ...settings,
        } as unknown as Record<string, never>,
      });
    }, (err) => {
      const row = rejectedRow(describeError(err).text);
      if (row === undefined) return false;
      throw new RowRejected(row, describeError(err).text);
    });
  }

  /**
   * Runs a statement on one replica of `shard` (with failover). An error
   * whose text `done` accepts means the statement had already taken effect
   * (e.g. a retried ALTER … ON CLUSTER that reached some hosts before).
   */
  command(
    shard: number,
    sql: string,
    signal: AbortSignal,
    done?: (errorText: string) => boolean,
  ): Promise<void> {
    return this.#withFailover(shard, "command", signal, async (r) => {
      try {
        await r.client.command({ query: sql });
      } catch (err) {
        if (done?.(describeError(err).text)) return;
        throw err;
      }
    });
  }

  /** Runs a query on the first reachable replica of `shard`. */
  query<T>(shard: number, sql: string, signal: AbortSignal): Promise<T[]> {
    return this.#withFailover(shard, "query", signal, async (r) => {
      const rs = await r.client.query({ query: sql, format: "JSONEachRow" });
      return await rs.json<T>();
    });
  }

  /** Runs a query on `shard` (with failover); the response as raw text. */
  queryText(shard: number, sql: string, signal: AbortSignal): Promise<string> {
    return this.#withFailover(shard, "query", signal, async (r) => {
      const rs = await r.client.query({ query: sql, format: "JSONEachRow" });
      return await rs.text();
    });
  }

  /**
   * Runs a query on the first replica of `shard` that answers, trying each
   * once (start-up and schema polls: no endless retry). Undefined when none
   * answered; ClickHouse errors other than connection failures propagate.
   */
  async queryOnce<T>(shard: number, sql: string): Promise<T[] | undefined> {
    let lastErr: unknown;
    for (const r of this.#shards[shard]) {
      try {
        const rs = await r.client.query({ query: sql, format: "JSONEachRow" });
        return await rs.json<T>();
      } catch (err) {
        lastErr = err;
        if (describeError(err).code !== undefined) throw err;
      }
    }
    this.#opts.log.debug("no replica answered", {
      shard: shard + 1,
      error: describeError(lastErr).text,
    });
    return undefined;
  }

  /** Closes every client. */
  async close(): Promise<void> {
    for (const r of this.#shards.flat()) await r.client.close();
  }
}

/** `db.table` quoted for SQL. */
export function qualified(db: string, table: string): string {
  return sqlIdentifier(`${db}.${table}`);
}
