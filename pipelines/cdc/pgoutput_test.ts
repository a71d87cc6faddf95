import assert from "node:assert/strict";
import frames from "./testdata/pgoutput_frames.json" with { type: "json" };
import {
  decodePgOutput,
  encodeStandbyStatus,
  msToPgTimestamp,
  parseFrame,
  type PgOutputMessage,
  pgTimestampToMs,
} from "./pgoutput.ts";

/**
 * CopyData payloads captured from PostgreSQL 15 for a scripted sequence:
 * insert with a 6.4 kB text + enum + numeric, TOAST-unchanged update, primary
 * key change, REPLICA IDENTITY FULL insert/update/delete, delete, truncate of
 * two tables, and a transaction with a replication origin and a message.
 */
const FRAMES: string[] = frames;

function hex(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((b) => parseInt(b, 16)));
}

function decodedMessages(): Array<{ walStart: bigint; m: PgOutputMessage }> {
  const out = [];
  for (const h of FRAMES) {
    const f = parseFrame(hex(h));
    if (f.kind === "xlogdata") {
      out.push({ walStart: f.walStart, m: decodePgOutput(f.payload) });
    }
  }
  return out;
}

Deno.test("parseFrame decodes keepalives", () => {
  const f = parseFrame(hex(FRAMES[0]));
  assert.equal(f.kind, "keepalive");
  if (f.kind !== "keepalive") return;
  assert.equal(f.walEnd, 26853824n);
  assert.equal(f.replyRequested, false);
  assert.ok(f.sendTimeMs > Date.UTC(2020, 0, 1));
});

Deno.test("captured stream decodes into the expected message sequence", () => {
  const tags = decodedMessages().map((x) => x.m.tag);
  assert.deepEqual(tags, [
    "begin",
    "type",
    "relation",
    "insert",
    "commit",
    "begin",
    "update",
    "commit",
    "begin",
    "update",
    "commit",
    "begin",
    "relation",
    "insert",
    "update",
    "delete",
    "commit",
    "begin",
    "delete",
    "commit",
    "begin",
    "type",
    "relation",
    "relation",
    "truncate",
    "commit",
    "begin",
    "origin",
    "relation",
    "insert",
    "message",
    "commit",
  ]);
});

Deno.test("Begin, Commit, Relation and Type carry their fields", () => {
  const ms = decodedMessages().map((x) => x.m);
  const begin = ms[0];
  assert.equal(begin.tag, "begin");
  if (begin.tag === "begin") {
    assert.equal(begin.xid, 744);
    assert.equal(begin.finalLsn, 26861096n);
  }
  const type = ms[1];
  assert.deepEqual(type, {
    tag: "type",
    typeOid: 16421,
    schema: "cap",
    name: "mood",
  });
  const rel = ms[2];
  assert.equal(rel.tag, "relation");
  if (rel.tag === "relation") {
    assert.equal(rel.schema, "cap");
    assert.equal(rel.name, "t");
    assert.equal(rel.replicaIdentity, "default");
    assert.deepEqual(rel.columns.map((c) => [c.name, c.typeOid, c.isKey]), [
      ["id", 23, true],
      ["m", 16421, false],
      ["big", 25, false],
      ["n", 1700, false],
    ]);
    assert.equal(rel.columns[3].typeMod, 655366); // numeric(10,2)
  }
  const commit = ms[4];
  assert.equal(commit.tag, "commit");
  if (commit.tag === "commit") {
    assert.equal(commit.commitLsn, 26861096n);
    assert.equal(commit.endLsn, 26861144n);
  }
});

Deno.test("Insert/Update/Delete tuples: text, null, unchanged TOAST, K and O images", () => {
  const ms = decodedMessages().map((x) => x.m);
  const ins = ms[3];
  assert.equal(ins.tag, "insert");
  if (ins.tag === "insert") {
    assert.deepEqual(ins.newTuple[0], { kind: "text", text: "1" });
    assert.equal(ins.newTuple[2].kind, "text");
    if (ins.newTuple[2].kind === "text") {
      assert.equal(ins.newTuple[2].text.length, 6400); // 200 md5s
    }
  }
  const toast = ms[6];
  assert.equal(toast.tag, "update");
  if (toast.tag === "update") {
    assert.equal(toast.oldTuple, undefined);
    assert.deepEqual(toast.newTuple[2], { kind: "unchanged" });
    assert.deepEqual(toast.newTuple[3], { kind: "text", text: "2.25" });
  }
  const keyChange = ms[9];
  assert.equal(keyChange.tag, "update");
  if (keyChange.tag === "update") {
    assert.equal(keyChange.oldKind, "key");
    assert.deepEqual(keyChange.oldTuple, [
      { kind: "text", text: "1" },
      { kind: "null" },
      { kind: "null" },
      { kind: "null" },
    ]);
  }
  const fullUpdate = ms[14];
  assert.equal(fullUpdate.tag, "update");
  if (fullUpdate.tag === "update") {
    assert.equal(fullUpdate.oldKind, "old");
    assert.deepEqual(fullUpdate.oldTuple?.[1], { kind: "text", text: "a" });
    assert.deepEqual(fullUpdate.newTuple[1], { kind: "text", text: "b" });
  }
  const fullDelete = ms[15];
  assert.equal(fullDelete.tag, "delete");
  if (fullDelete.tag === "delete") {
    assert.equal(fullDelete.oldKind, "old");
    assert.deepEqual(fullDelete.oldTuple[1], { kind: "text", text: "b" });
  }
});

Deno.test("Truncate, Origin and Message decode", () => {
  const ms = decodedMessages().map((x) => x.m);
  const tr = ms[24];
  assert.deepEqual(tr, {
    tag: "truncate",
    cascade: true,
    restartIdentity: true,
    relationOids: [16425, 16432],
  });
  const origin = ms[27];
  assert.deepEqual(origin, { tag: "origin", lsn: 0xabn, name: "cap_origin" });
  const msg = ms[30];
  assert.equal(msg.tag, "message");
  if (msg.tag === "message") {
    assert.equal(msg.transactional, true);
    assert.equal(msg.prefix, "txmsg");
    assert.equal(new TextDecoder().decode(msg.content), "hello");
  }
});

Deno.test("change messages carry their own WAL position", () => {
  const xs = decodedMessages();
  const ins = xs[3];
  assert.equal(ins.walStart, 26860848n);
  // Relation messages have no position of their own.
  assert.equal(xs[2].walStart, 0n);
});

Deno.test("truncated or unknown messages are rejected", () => {
  assert.throws(
    () => decodePgOutput(new Uint8Array([0x42, 0, 0])),
    /truncated/,
  );
  assert.throws(
    () => decodePgOutput(new Uint8Array([0x5a])),
    /unknown message/,
  );
  assert.throws(
    () => parseFrame(new Uint8Array([0x78])),
    /unknown replication frame/,
  );
});

Deno.test("standby status update layout", () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);
  const b = encodeStandbyStatus(0x10n, 0x20n, 0x30n, now, true);
  const v = new DataView(b.buffer);
  assert.equal(b.length, 34);
  assert.equal(b[0], 0x72);
  assert.equal(v.getBigUint64(1), 0x10n);
  assert.equal(v.getBigUint64(9), 0x20n);
  assert.equal(v.getBigUint64(17), 0x30n);
  assert.equal(pgTimestampToMs(v.getBigInt64(25)), now);
  assert.equal(b[33], 1);
  assert.equal(msToPgTimestamp(946684800000), 0n);
});
