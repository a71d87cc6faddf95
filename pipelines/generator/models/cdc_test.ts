import assert from "node:assert/strict";
import { Rng } from "../prng.ts";
import {
  CdcModel,
  CounterIds,
  type OpNumbers,
  quotaProblem,
  quotasFor,
} from "./cdc.ts";

/** Applies changes to an in-memory database that enforces the FK. */
class FakeDb {
  users = new Set<number>();
  orders = new Map<number, number>(); // id → user_id
  apply(c: ReturnType<CdcModel["nextTransaction"]>[number]): void {
    if (c.table === "users") {
      if (c.op === "insert") {
        assert.ok(!this.users.has(c.id), `duplicate user ${c.id}`);
        this.users.add(c.id);
      } else if (c.op === "update") {
        assert.ok(this.users.has(c.id), `update of missing user ${c.id}`);
      } else {
        assert.ok(this.users.has(c.id), `delete of missing user ${c.id}`);
        for (const u of this.orders.values()) {
          assert.notEqual(
            u,
            c.id,
            `FK violated: user ${c.id} still has orders`,
          );
        }
        this.users.delete(c.id);
      }
    } else {
      if (c.op === "insert") {
        const userId = c.row!.user_id as number;
        assert.ok(this.users.has(userId), `FK violated: no user ${userId}`);
        this.orders.set(c.id, userId);
      } else {
        assert.ok(this.orders.has(c.id), `${c.op} of missing order ${c.id}`);
        if (c.op === "delete") this.orders.delete(c.id);
      }
    }
  }
}

function runQuotas(seed: string, quotas: OpNumbers, maxTxSize: number) {
  const model = new CdcModel(new Rng(seed), new CounterIds(), {
    mix: { insert: 1, update: 1, delete: 1 },
    quotas,
    maxTxSize,
  });
  const db = new FakeDb();
  const seen: OpNumbers = { insert: 0, update: 0, delete: 0 };
  const sizes = new Set<number>();
  let guard = 0;
  while (!model.done) {
    const tx = model.nextTransaction();
    assert.ok(tx.length > 0, "empty transaction before quotas are met");
    sizes.add(tx.length);
    for (const c of tx) {
      db.apply(c);
      seen[c.op]++;
    }
    assert.ok(guard++ < 1e6);
  }
  assert.deepEqual(model.nextTransaction(), []);
  return { seen, sizes, db };
}

Deno.test("quotasFor splits exactly by the mix", () => {
  assert.deepEqual(quotasFor(1000, { insert: 60, update: 30, delete: 10 }), {
    insert: 600,
    update: 300,
    delete: 100,
  });
  const q = quotasFor(7, { insert: 1, update: 1, delete: 1 });
  assert.equal(q.insert + q.update + q.delete, 7);
  assert.equal(
    quotaProblem({ insert: 1, update: 0, delete: 2 }) !== undefined,
    true,
  );
  assert.equal(quotaProblem({ insert: 2, update: 1, delete: 1 }), undefined);
});

Deno.test("cdc model meets quotas exactly and never breaks the FK", () => {
  const cases: Array<[OpNumbers, number]> = [
    [{ insert: 600, update: 300, delete: 100 }, 5],
    [{ insert: 500, update: 0, delete: 500 }, 8],
    [{ insert: 300, update: 200, delete: 299 }, 3],
    [{ insert: 50, update: 1000, delete: 0 }, 10],
    [{ insert: 1, update: 0, delete: 0 }, 1],
  ];
  for (const [quotas, tx] of cases) {
    for (const seed of ["a", "b", "c"]) {
      const { seen, sizes } = runQuotas(seed, quotas, tx);
      assert.deepEqual(seen, quotas, `seed ${seed}`);
      if (tx > 2 && quotas.insert > 100) {
        assert.ok(sizes.size > 1, "sizes vary");
      }
    }
  }
});

Deno.test("cdc model without quotas follows the mix roughly and stays bounded", () => {
  const model = new CdcModel(new Rng("mix"), new CounterIds(), {
    mix: { insert: 50, update: 30, delete: 20 },
    maxTxSize: 5,
    maxTrackedUsers: 200,
    maxTrackedOrders: 500,
  });
  const db = new FakeDb();
  const seen: OpNumbers = { insert: 0, update: 0, delete: 0 };
  for (let i = 0; i < 20_000; i++) {
    for (const c of model.nextTransaction()) {
      db.apply(c);
      seen[c.op]++;
    }
  }
  const total = seen.insert + seen.update + seen.delete;
  for (
    const [op, share] of [["insert", 0.5], ["update", 0.3], [
      "delete",
      0.2,
    ]] as const
  ) {
    assert.ok(Math.abs(seen[op] / total - share) < 0.01, JSON.stringify(seen));
  }
  assert.ok(model.live <= 700, `tracked rows bounded, got ${model.live}`);
});

Deno.test("cdc model tags names and products", () => {
  const model = new CdcModel(new Rng("t"), new CounterIds(), {
    mix: { insert: 1, update: 0, delete: 0 },
    quotas: { insert: 50, update: 0, delete: 0 },
    maxTxSize: 4,
    tag: "run42",
  });
  let n = 0;
  while (!model.done) {
    for (const c of model.nextTransaction()) {
      const text = c.table === "users" ? c.row!.name : c.row!.product_name;
      assert.match(String(text), / #run42$/);
      n++;
    }
  }
  assert.equal(n, 50);
});

Deno.test("cdc model rejects impossible quotas", () => {
  assert.throws(
    () =>
      new CdcModel(new Rng("x"), new CounterIds(), {
        mix: { insert: 1, update: 1, delete: 1 },
        quotas: { insert: 1, update: 1, delete: 1 },
        maxTxSize: 2,
      }),
    RangeError,
  );
});
