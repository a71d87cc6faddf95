/**
 * Row changes for PostgreSQL `users` and `orders`: inserts, updates and
 * deletes in a configurable mix, grouped into transactions of varying size,
 * with the foreign key `orders.user_id → users.id` always valid — a user is
 * deleted only after (in the same transaction) every order it has.
 *
 * The model only touches rows it inserted itself (ids come from an
 * {@link IdSource}: a local counter, or ids reserved from PostgreSQL's own
 * sequences), so it never collides with other writers of the same tables.
 *
 * With `quotas` (from `--count`) it produces exactly the requested numbers
 * of inserts, updates and deletes: it picks operations in proportion to
 * what is left, and the invariant `live + inserts_left ≥ deletes_left +
 * (updates_left > 0 ? 1 : 0)` — true at the start and kept by every
 * operation — guarantees it never runs out of rows to update or delete.
 * Without quotas (endless runs) it works through blocks of 1000 changes,
 * each split exactly by the mix, so cascaded order deletes do not skew the
 * mix; tracked rows are capped so memory stays flat.
 *
 * @module
 */
import type { Rng } from "../prng.ts";

/** Kinds of change. */
export const CDC_OPS = ["insert", "update", "delete"] as const;
/** One of {@link CDC_OPS}. */
export type CdcOp = typeof CDC_OPS[number];
/** Tables the model writes. */
export const CDC_TABLES = ["users", "orders"] as const;
/** One of {@link CDC_TABLES}. */
export type CdcTable = typeof CDC_TABLES[number];

/** Numbers per operation (a mix of weights, or exact quotas). */
export type OpNumbers = Record<CdcOp, number>;

/** Column values a change sets (always including `id`). */
export type CdcRow = Record<string, string | number>;

/** One row change. */
export interface CdcChange {
  op: CdcOp;
  table: CdcTable;
  id: number;
  /** Insert: the full row; update: id + changed columns; delete: null. */
  row: CdcRow | null;
}

/** Gives fresh primary keys per table. */
export interface IdSource {
  next(table: CdcTable): number;
}

/** Ids 1, 2, 3… per table: for stdout/file output. */
export class CounterIds implements IdSource {
  #next: Record<CdcTable, number>;
  /** Starts both tables at `start`. */
  constructor(start = 1) {
    this.#next = { users: start, orders: start };
  }
  /** The next id of `table`. */
  next(table: CdcTable): number {
    return this.#next[table]++;
  }
}

/** Options of {@link CdcModel}. */
export interface CdcOptions {
  /** Relative weights of insert/update/delete (used without quotas). */
  mix: OpNumbers;
  /** Exact numbers to produce (then `done` turns true when all are made). */
  quotas?: OpNumbers;
  /** Largest transaction (row changes, before cascaded order deletes). */
  maxTxSize: number;
  /** Marker appended to names and product names (to find a run's rows). */
  tag?: string;
  /** Rows tracked for later updates/deletes when running without quotas. */
  maxTrackedUsers?: number;
  maxTrackedOrders?: number;
}

/** Splits `total` by `mix` with largest-remainder rounding (sums exactly). */
export function quotasFor(total: number, mix: OpNumbers): OpNumbers {
  const sum = CDC_OPS.reduce((s, op) => s + mix[op], 0);
  const raw = CDC_OPS.map((op) => (total * mix[op]) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    out[i]++;
  }
  return { insert: out[0], update: out[1], delete: out[2] };
}

/** Why quotas cannot be met, or undefined when they can. */
export function quotaProblem(q: OpNumbers): string | undefined {
  const need = q.delete + (q.update > 0 ? 1 : 0);
  if (q.insert < need) {
    return `the mix asks for ${q.insert} inserts but ${q.delete} deletes and ${q.update} updates: ` +
      `the generator only changes rows it inserted, so it needs at least ${need} inserts`;
  }
  return undefined;
}

/** A set of ids with O(1) add, remove and uniform random pick. */
class IdSet {
  readonly items: number[] = [];
  readonly #index = new Map<number, number>();
  get size(): number {
    return this.items.length;
  }
  add(id: number): void {
    this.#index.set(id, this.items.length);
    this.items.push(id);
  }
  delete(id: number): void {
    const i = this.#index.get(id);
    if (i === undefined) return;
    const last = this.items.pop()!;
    if (last !== id) {
      this.items[i] = last;
      this.#index.set(last, i);
    }
    this.#index.delete(id);
  }
  pick(rng: Rng): number {
    return this.items[rng.int(this.items.length)];
  }
}

const FIRST_NAMES = [
  "Alice",
  "Bob",
  "Carla",
  "Dmitri",
  "Elena",
  "Farid",
  "Grace",
  "Hiro",
  "Ines",
  "Jonas",
  "Kemal",
  "Lena",
  "Marta",
  "Nikolai",
  "Olga",
  "Pavel",
  "Quinn",
  "Rosa",
  "Sven",
  "Tanya",
  "Umar",
  "Vera",
  "Wen",
  "Yusuf",
];
const LAST_NAMES = [
  "Ivanova",
  "Kim",
  "Garcia",
  "Novak",
  "Schmidt",
  "Rossi",
  "Petrov",
  "Silva",
  "Tanaka",
  "Nguyen",
  "Haddad",
  "Larsen",
  "Moreau",
  "Kowalski",
  "Popescu",
  "Yilmaz",
];
const DOMAINS = [
  "example.com",
  "mail.example.org",
  "shop.example.net",
  "corp.example",
];
const PRODUCTS = [
  "Laptop",
  "Wireless Mouse",
  "Mechanical Keyboard",
  "USB-C Hub",
  "27in Monitor",
  "Noise Cancelling Headphones",
  "Webcam",
  "Desk Lamp",
  "Office Chair",
  "Standing Desk",
  "External SSD 1TB",
  "Phone Case",
  "Charger 65W",
  "HDMI Cable",
  "Smartwatch",
  "Tablet",
  "Bluetooth Speaker",
  "Coffee Grinder",
  "Backpack",
  "Water Bottle",
];

/** The CDC change model (see module docs). */
export class CdcModel {
  readonly #rng: Rng;
  readonly #ids: IdSource;
  readonly #opts: CdcOptions;
  readonly #users = new IdSet();
  readonly #orders = new IdSet();
  /** Orders of each tracked user (all its orders are tracked). */
  readonly #userOrders = new Map<number, IdSet>();
  readonly #orderUser = new Map<number, number>();
  /** Users we stopped tracking: never deleted, so safe order targets. */
  readonly #retired: number[] = [];
  readonly #left: OpNumbers;
  readonly #finite: boolean;
  readonly #suffix: string;
  readonly #maxUsers: number;
  readonly #maxOrders: number;
  #txId = 0;

  /** Throws RangeError when quotas cannot be met. */
  constructor(rng: Rng, ids: IdSource, opts: CdcOptions) {
    this.#rng = rng;
    this.#ids = ids;
    this.#opts = opts;
    this.#finite = opts.quotas !== undefined;
    if (opts.quotas) {
      const problem = quotaProblem(opts.quotas);
      if (problem) throw new RangeError(problem);
      this.#left = { ...opts.quotas };
    } else {
      this.#left = { insert: 0, update: 0, delete: 0 };
    }
    this.#suffix = opts.tag ? ` #${opts.tag}` : "";
    // With quotas the run is finite, so track everything (exactness needs
    // it); without, cap the state so memory stays flat.
    this.#maxUsers = opts.quotas ? Infinity : opts.maxTrackedUsers ?? 50_000;
    this.#maxOrders = opts.quotas ? Infinity : opts.maxTrackedOrders ?? 200_000;
  }

  /** True when quotas are set and all met. */
  get done(): boolean {
    const l = this.#left;
    return this.#finite && l.insert + l.update + l.delete === 0;
  }

  /** Id of the last transaction returned. */
  get txId(): number {
    return this.#txId;
  }

  /** Tracked (live, touchable) rows. */
  get live(): number {
    return this.#users.size + this.#orders.size;
  }

  /** The next transaction's changes (empty once quotas are met). */
  nextTransaction(): CdcChange[] {
    const rng = this.#rng;
    const l = this.#left;
    let size = 1 + Math.floor(this.#opts.maxTxSize * rng.float() ** 2);
    if (size > this.#opts.maxTxSize) size = this.#opts.maxTxSize;
    if (this.#finite) size = Math.min(size, l.insert + l.update + l.delete);
    const out: CdcChange[] = [];
    // `size` counts chosen operations; a user delete may add its orders.
    for (let i = 0; i < size; i++) this.#step(out);
    if (out.length) this.#txId++;
    return out;
  }

  /** Next block of an endless run: the mix, exactly, and feasible. */
  #refill(): void {
    const q = quotasFor(1000, this.#opts.mix);
    while (this.live + q.insert < q.delete + (q.update > 0 ? 1 : 0)) {
      if (q.delete > 0) q.delete--;
      else q.update--;
      q.insert++;
    }
    Object.assign(this.#left, q);
  }

  #chooseOp(): CdcOp {
    const l = this.#left;
    if (!this.#finite && l.insert <= 0 && l.update <= 0 && l.delete <= 0) {
      this.#refill();
    }
    const live = this.live;
    const wi = Math.max(0, l.insert);
    const wu = live > 0 ? Math.max(0, l.update) : 0;
    const wd = live > 0 ? Math.max(0, l.delete) : 0;
    // Only reachable without quotas, after retiring rows shrank `live`.
    if (wi + wu + wd === 0) return "insert";
    const x = this.#rng.float() * (wi + wu + wd);
    return x < wi ? "insert" : x < wi + wu ? "update" : "delete";
  }

  #step(out: CdcChange[]): void {
    const op = this.#chooseOp();
    if (op === "insert") this.#insert(out);
    else if (op === "update") this.#update(out);
    else this.#delete(out);
  }

  #count(op: CdcOp, n = 1): void {
    this.#left[op] -= n;
  }

  #name(): string {
    return this.#rng.pick(FIRST_NAMES) + " " + this.#rng.pick(LAST_NAMES) +
      this.#suffix;
  }

  #email(name: string, id: number): string {
    const [first, last] = name.toLowerCase().split(" ");
    return `${first}.${last}${id % 1000}@${this.#rng.pick(DOMAINS)}`;
  }

  #product(): string {
    return this.#rng.pick(PRODUCTS) + this.#suffix;
  }

  #insert(out: CdcChange[]): void {
    const rng = this.#rng;
    this.#count("insert");
    const haveUser = this.#users.size > 0 || this.#retired.length > 0;
    if (!haveUser || rng.float() < 0.4) {
      const id = this.#ids.next("users");
      const name = this.#name();
      out.push({
        op: "insert",
        table: "users",
        id,
        row: { id, name, email: this.#email(name, id) },
      });
      if (this.#users.size < this.#maxUsers) {
        this.#users.add(id);
        this.#userOrders.set(id, new IdSet());
      } else this.#retire(id);
      return;
    }
    if (this.#orders.size >= this.#maxOrders && this.#users.size > 0) {
      // Order tracking is full: retire a user (its orders stop being
      // tracked too), freeing room and giving a safe target.
      const u = this.#users.pick(rng);
      this.#forgetUser(u);
      this.#retire(u);
    }
    let userId: number;
    let tracked: boolean;
    if (this.#users.size > 0 && this.#orders.size < this.#maxOrders) {
      userId = this.#users.pick(rng);
      tracked = true;
    } else {
      userId = rng.pick(this.#retired);
      tracked = false;
    }
    const id = this.#ids.next("orders");
    out.push({
      op: "insert",
      table: "orders",
      id,
      row: {
        id,
        user_id: userId,
        product_name: this.#product(),
        quantity: 1 + Math.floor(4 * rng.float() ** 3),
      },
    });
    if (tracked) {
      this.#orders.add(id);
      this.#orderUser.set(id, userId);
      this.#userOrders.get(userId)!.add(id);
    }
  }

  #retire(userId: number): void {
    if (this.#retired.length < 1024) this.#retired.push(userId);
    else this.#retired[this.#rng.int(1024)] = userId;
  }

  #forgetUser(userId: number): void {
    const orders = this.#userOrders.get(userId);
    if (orders) {
      for (const o of orders.items) {
        this.#orders.delete(o);
        this.#orderUser.delete(o);
      }
    }
    this.#userOrders.delete(userId);
    this.#users.delete(userId);
  }

  #update(out: CdcChange[]): void {
    const rng = this.#rng;
    this.#count("update");
    const useOrders = this.#users.size === 0 ||
      (this.#orders.size > 0 && rng.float() < 0.6);
    if (useOrders) {
      const id = this.#orders.pick(rng);
      const row: CdcRow = rng.float() < 0.7
        ? { id, quantity: 1 + Math.floor(9 * rng.float() ** 2) }
        : { id, product_name: this.#product() };
      out.push({ op: "update", table: "orders", id, row });
      return;
    }
    const id = this.#users.pick(rng);
    const name = this.#name();
    const row: CdcRow = rng.float() < 0.6
      ? { id, email: this.#email(name, id + rng.int(1000)) }
      : { id, name };
    out.push({ op: "update", table: "users", id, row });
  }

  #delete(out: CdcChange[]): void {
    const rng = this.#rng;
    const budget = Math.max(1, this.#left.delete);
    const preferUser = this.#orders.size === 0 || rng.float() < 0.3;
    if (preferUser && this.#users.size > 0) {
      const userId = this.#users.pick(rng);
      const orders = this.#userOrders.get(userId)!;
      if (orders.size + 1 <= budget) {
        // Orders first, then the user, in the same transaction.
        for (const o of [...orders.items]) {
          out.push({ op: "delete", table: "orders", id: o, row: null });
          this.#orders.delete(o);
          this.#orderUser.delete(o);
        }
        out.push({ op: "delete", table: "users", id: userId, row: null });
        this.#userOrders.delete(userId);
        this.#users.delete(userId);
        this.#count("delete", orders.size + 1);
        return;
      }
    }
    if (this.#orders.size > 0) {
      const id = this.#orders.pick(rng);
      out.push({ op: "delete", table: "orders", id, row: null });
      this.#orders.delete(id);
      this.#userOrders.get(this.#orderUser.get(id)!)?.delete(id);
      this.#orderUser.delete(id);
      this.#count("delete");
      return;
    }
    // No orders at all: every user costs exactly one delete.
    const userId = this.#users.pick(rng);
    out.push({ op: "delete", table: "users", id: userId, row: null });
    this.#userOrders.delete(userId);
    this.#users.delete(userId);
    this.#count("delete");
  }
}

/**
 * Encodes one change as an NDJSON line for stdout/file output (see
 * `schemas/events/cdc_change.schema.json`).
 */
export function encodeChange(
  c: CdcChange,
  txId: number,
  index: number,
  size: number,
  timestamp: string,
): string {
  return JSON.stringify({
    timestamp,
    tx_id: txId,
    tx_index: index,
    tx_size: size,
    op: c.op,
    table: c.table,
    id: c.id,
    row: c.row,
  });
}
