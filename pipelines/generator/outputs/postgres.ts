/**
 * Applies CDC model transactions to PostgreSQL `users` / `orders`, one SQL
 * transaction per model transaction, with parameterised statements only.
 *
 * Primary keys are reserved from the tables' own sequences (`nextval`), so
 * the model knows every id up front and other writers never get them.
 * Every statement must touch exactly one row; counts come from PostgreSQL's
 * row counts, so the summary reports what really happened. A user delete
 * runs under a savepoint: if another writer gave that user an order
 * meanwhile, the foreign key refuses it, we roll back just that statement
 * and report it as skipped — the key is never violated.
 *
 * @module
 */
import type { pg } from "../../runtime/mod.ts";
import {
  CDC_TABLES,
  type CdcChange,
  type CdcTable,
  type IdSource,
} from "../models/cdc.ts";
import { type CdcCounts, type CdcSink, newCdcCounts } from "./cdc_sink.ts";

const RESERVE_BLOCK = 256;

/** Ids reserved from PostgreSQL sequences; call `ensure` before using. */
class SequenceIds implements IdSource {
  readonly #ids: Record<CdcTable, number[]> = { users: [], orders: [] };
  readonly #pos: Record<CdcTable, number> = { users: 0, orders: 0 };

  constructor(
    private readonly client: pg.Client,
    private readonly sequences: Record<CdcTable, string>,
  ) {}

  /** Makes sure at least `n` ids per table are reserved. */
  async ensure(n: number): Promise<void> {
    for (const t of CDC_TABLES) {
      const left = this.#ids[t].length - this.#pos[t];
      if (left >= n) continue;
      const want = Math.max(RESERVE_BLOCK, n);
      const res = await this.client.query<{ id: string }>(
        "SELECT nextval($1::regclass) AS id FROM generate_series(1, $2)",
        [this.sequences[t], want],
      );
      this.#ids[t] = [
        ...this.#ids[t].slice(this.#pos[t]),
        ...res.rows.map((r) => Number(r.id)),
      ];
      this.#pos[t] = 0;
    }
  }

  next(table: CdcTable): number {
    const ids = this.#ids[table];
    if (this.#pos[table] >= ids.length) {
      throw new Error(`no reserved ${table} id left (ensure() too small)`);
    }
    return ids[this.#pos[table]++];
  }
}

/** Fixed SQL per change kind; column names never come from input. */
const SQL = {
  insertUser: "INSERT INTO users (id, name, email) VALUES ($1, $2, $3)",
  insertOrder:
    "INSERT INTO orders (id, user_id, product_name, quantity) VALUES ($1, $2, $3, $4)",
  updateUserName: "UPDATE users SET name = $2 WHERE id = $1",
  updateUserEmail: "UPDATE users SET email = $2 WHERE id = $1",
  updateOrderQuantity: "UPDATE orders SET quantity = $2 WHERE id = $1",
  updateOrderProduct: "UPDATE orders SET product_name = $2 WHERE id = $1",
  deleteUser: "DELETE FROM users WHERE id = $1",
  deleteOrder: "DELETE FROM orders WHERE id = $1",
} as const;

function statement(c: CdcChange): [string, unknown[]] {
  const r = c.row;
  if (c.op === "insert") {
    return c.table === "users"
      ? [SQL.insertUser, [c.id, r!.name, r!.email]]
      : [SQL.insertOrder, [c.id, r!.user_id, r!.product_name, r!.quantity]];
  }
  if (c.op === "update") {
    if (c.table === "users") {
      return "name" in r!
        ? [SQL.updateUserName, [c.id, r!.name]]
        : [SQL.updateUserEmail, [c.id, r!.email]];
    }
    return "quantity" in r!
      ? [SQL.updateOrderQuantity, [c.id, r!.quantity]]
      : [SQL.updateOrderProduct, [c.id, r!.product_name]];
  }
  return [c.table === "users" ? SQL.deleteUser : SQL.deleteOrder, [c.id]];
}

/** Writes CDC transactions into PostgreSQL (see module docs). */
export class PostgresCdcOutput implements CdcSink {
  readonly name = "postgres";
  /** Row changes PostgreSQL confirmed. */
  readonly applied: CdcCounts = newCdcCounts();
  /** Changes that touched no row or were refused (other writers). */
  skipped = 0;
  /** Transactions committed. */
  transactions = 0;
  /** Failed transactions. */
  errors = 0;
  #ids: SequenceIds | undefined;
  #reserve = 1;

  /** Uses a connected client (one session, transactions in sequence). */
  constructor(private readonly client: pg.Client) {}

  /**
   * Checks the tables and finds their id sequences; returns the id source
   * the model must use. `maxTxSize` bounds the ids one transaction needs.
   */
  async open(maxTxSize: number): Promise<IdSource> {
    this.#reserve = maxTxSize;
    const res = await this.client.query<{ users: string; orders: string }>(
      "SELECT pg_get_serial_sequence('users', 'id') AS users, " +
        "pg_get_serial_sequence('orders', 'id') AS orders",
    );
    const row = res.rows[0];
    if (!row?.users || !row?.orders) {
      throw new Error("tables users/orders have no serial id sequence");
    }
    this.#ids = new SequenceIds(this.client, row);
    return this.#ids;
  }

  /** Reserves enough ids for the next transaction. */
  async prepare(): Promise<void> {
    await this.#ids!.ensure(this.#reserve);
  }

  /** Nothing is buffered. */
  tick(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing is buffered. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Applies one transaction; rolls back and throws on failure. */
  async apply(tx: CdcChange[]): Promise<void> {
    const c = this.client;
    const applied: CdcChange[] = [];
    let skipped = 0;
    await c.query("BEGIN");
    try {
      for (const change of tx) {
        const [sql, params] = statement(change);
        if (change.op === "delete" && change.table === "users") {
          await c.query("SAVEPOINT user_delete");
          try {
            const r = await c.query(sql, params);
            await c.query("RELEASE SAVEPOINT user_delete");
            if (r.rowCount === 1) applied.push(change);
            else skipped++;
          } catch (err) {
            if ((err as { code?: string }).code !== "23503") throw err;
            await c.query("ROLLBACK TO SAVEPOINT user_delete");
            skipped++;
          }
          continue;
        }
        const r = await c.query(sql, params);
        if (r.rowCount === 1) applied.push(change);
        else skipped++;
      }
      await c.query("COMMIT");
    } catch (err) {
      this.errors++;
      await c.query("ROLLBACK").catch(() => {});
      throw err;
    }
    this.transactions++;
    this.skipped += skipped;
    for (const ch of applied) this.applied[ch.table][ch.op]++;
  }
}
