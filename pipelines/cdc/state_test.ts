import assert from "node:assert/strict";
import { PipelineError } from "../runtime/app.ts";
import { decideStart, type SlotState } from "./state.ts";

const base = {
  slot: "s1",
  slotExists: true,
  mode: "initial" as const,
  row: undefined as SlotState | undefined,
  legacyFileCompleted: false,
  systemId: "42",
  db: "shop",
  table: "public.deno_cdc_snapshots",
};
const row = (status: SlotState["status"], systemId = "42"): SlotState => ({
  status,
  systemId,
  db: "shop",
});

Deno.test("an existing slot without recorded state is refused, never dropped", () => {
  assert.throws(
    () => decideStart(base),
    (err: unknown) =>
      err instanceof PipelineError &&
      /slot "s1" exists but public\.deno_cdc_snapshots records no snapshot/
        .test(err.message) &&
      /--snapshot-mode never/.test(err.hint ?? "") &&
      /pg_drop_replication_slot\('s1'\)/.test(err.hint ?? ""),
  );
  // A row of another system (restored elsewhere) is no evidence either.
  assert.throws(
    () => decideStart({ ...base, row: row("completed", "7") }),
    PipelineError,
  );
});

Deno.test("completed → resume; our interrupted snapshot → redo; no slot → create", () => {
  assert.deepEqual(decideStart({ ...base, row: row("completed") }), {
    action: "resume",
    record: false,
  });
  assert.deepEqual(decideStart({ ...base, row: row("snapshotting") }), {
    action: "redo",
  });
  assert.deepEqual(decideStart({ ...base, slotExists: false }), {
    action: "create",
  });
});

Deno.test("an older completed state file migrates; --snapshot-mode never resumes and records", () => {
  assert.deepEqual(decideStart({ ...base, legacyFileCompleted: true }), {
    action: "resume",
    record: true,
  });
  assert.deepEqual(decideStart({ ...base, mode: "never" }), {
    action: "resume",
    record: true,
  });
});
