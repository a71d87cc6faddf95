/**
 * Installs the KafkaJS speed-ups of `kafkajs_fast.ts` (six hot spots of
 * KafkaJS 2.2.4's producer, see README "Performance") by replacing four
 * KafkaJS modules in `require.cache` and four `Encoder` methods.
 *
 * All or nothing: at import it checks that KafkaJS is exactly the pinned
 * version, that each function it replaces (and the `Encoder` class the new
 * methods rely on) has the source the replacements were written for, and
 * that no KafkaJS module which captures a replaced export at load time is
 * loaded yet. If anything differs, no patch is applied, stock KafkaJS runs,
 * and one warning line says why. An error while patching undoes the patches
 * already made.
 *
 * Import it before anything imports `kafkajs` (the shipper's and the CDC
 * relay's `main.ts` do so on their first line).
 *
 * @module
 */
import "./_env_guard.ts"; // KafkaJS modules load below and read env
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { createLogger, type Logger } from "./log.ts";
import {
  crc32c,
  fastEncoder,
  fastRecord,
  groupMessagesPerPartition,
  murmur2,
} from "./kafkajs_fast.ts";

export { crc32c, murmur2 } from "./kafkajs_fast.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

/** The KafkaJS version the speed-ups were written for (deno.json pins it). */
export const KAFKAJS_VERSION = "2.2.4";

/** The modules whose export is replaced, by name, inside the package. */
export const PATCHED_MODULES = {
  groupMessagesPerPartition: "src/producer/groupMessagesPerPartition.js",
  crc32C: "src/protocol/recordBatch/crc32C/index.js",
  murmur2: "src/producer/partitioners/default/murmur2.js",
  recordV0: "src/protocol/recordBatch/record/v0/index.js",
} as const;

/** A name of {@link PATCHED_MODULES}. */
export type PatchedModule = keyof typeof PATCHED_MODULES;

/** KafkaJS's `Encoder` class, inside the package. */
export const ENCODER_MODULE = "src/protocol/encoder.js";

/** The `Encoder.prototype` methods that are replaced. */
export const PATCHED_METHODS = [
  "writeEncoderArray",
  "writeBufferInternal",
  "writeUVarInt",
  "writeVarLong",
] as const;

/**
 * Modules that keep a reference to a patched export from the moment they
 * load: loaded before the patch, they would go on using the original (a
 * half-applied patch).
 */
export const CAPTURING_MODULES = [
  "src/producer/sendMessages.js",
  "src/producer/partitioners/default/index.js",
  "src/protocol/recordBatch/v0/index.js",
  "src/protocol/requests/produce/v3/request.js",
] as const;

/**
 * Fingerprints ({@link fingerprint}) of the originals in KafkaJS 2.2.4:
 * module exports by module name, `Encoder#method`, `Encoder.sizeOfVarLong`,
 * and the whole `Encoder` class (whose layout the new methods rely on:
 * `buf`, `offset`, `ensureAvailable`).
 */
export const EXPECTED_FINGERPRINTS: Readonly<Record<string, string>> = {
  groupMessagesPerPartition: "e77a5484f36362b6",
  crc32C: "4b021b202895a2b5",
  murmur2: "af850cc7b6b0ba23",
  recordV0: "88bfde961fa73b1c",
  "Encoder#writeEncoderArray": "75dc96b234fd395a",
  "Encoder#writeBufferInternal": "bbc95238b8b62185",
  "Encoder#writeUVarInt": "8e0e126031059dc3",
  "Encoder#writeVarLong": "99524a5dc321dba4",
  "Encoder.sizeOfVarLong": "dafd8b347eca4790",
  Encoder: "1f763192c693e21b",
};

/** What the pinned KafkaJS looks like: the reference of {@link checkKafkajs}. */
export interface KafkajsExpectation {
  /** `version` of KafkaJS's package.json. */
  version: string;
  /** {@link fingerprint} of each function, by name. */
  fingerprints: Readonly<Record<string, string>>;
}

/** The pinned KafkaJS 2.2.4. */
export const EXPECTED: KafkajsExpectation = {
  version: KAFKAJS_VERSION,
  fingerprints: EXPECTED_FINGERPRINTS,
};

/** The parts of a loaded KafkaJS the speed-ups touch. */
export interface KafkajsInternals {
  /** `version` of its package.json. */
  version: string;
  /** The `require.cache` entry of each patched module. */
  modules: Record<PatchedModule, { exports: unknown }>;
  /** Its `Encoder` class. */
  Encoder: Any;
  /** Those of {@link CAPTURING_MODULES} that are loaded already. */
  loadedCapturers: string[];
}

/** What {@link checkKafkajs} compares: plain data, no functions. */
export interface KafkajsFound {
  /** `version` of KafkaJS's package.json. */
  version: string;
  /** {@link fingerprint} of each function, by name. */
  fingerprints: Readonly<Record<string, string>>;
  /** Capturing modules loaded before the patch. */
  loadedCapturers: readonly string[];
}

/**
 * A short, stable digest of a function's source (`"missing"` for anything
 * that is not a function): a different KafkaJS build changes it.
 */
export function fingerprint(fn: unknown): string {
  if (typeof fn !== "function") return "missing";
  return createHash("sha256").update(String(fn)).digest("hex").slice(0, 16);
}

/** The fingerprints of what `internals` holds, named as in {@link EXPECTED_FINGERPRINTS}. */
export function fingerprintsOf(
  internals: KafkajsInternals,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(PATCHED_MODULES) as PatchedModule[]) {
    out[name] = fingerprint(internals.modules[name]?.exports);
  }
  const Encoder = internals.Encoder;
  for (const method of PATCHED_METHODS) {
    out[`Encoder#${method}`] = fingerprint(Encoder?.prototype?.[method]);
  }
  out["Encoder.sizeOfVarLong"] = fingerprint(Encoder?.sizeOfVarLong);
  out.Encoder = fingerprint(Encoder);
  return out;
}

/**
 * Pure: every way `found` differs from `expected`, as readable reasons;
 * empty when the speed-ups fit exactly.
 */
export function checkKafkajs(
  found: KafkajsFound,
  expected: KafkajsExpectation = EXPECTED,
): string[] {
  const problems: string[] = [];
  if (found.version !== expected.version) {
    problems.push(
      `KafkaJS ${found.version} (speed-ups are for ${expected.version})`,
    );
  }
  for (const [name, want] of Object.entries(expected.fingerprints)) {
    const got = found.fingerprints[name] ?? "missing";
    if (got !== want) {
      problems.push(`${name} differs (fingerprint ${got}, expected ${want})`);
    }
  }
  for (const path of found.loadedCapturers) {
    problems.push(`${path} was loaded before the speed-ups`);
  }
  return problems;
}

/** Reads the parts of the installed KafkaJS the speed-ups touch; throws if its layout differs. */
export function loadInternals(
  req: ReturnType<typeof createRequire> = createRequire(import.meta.url),
): KafkajsInternals {
  const root = req.resolve("kafkajs").replace(/index\.js$/, "");
  const loadedCapturers = CAPTURING_MODULES.filter((p) =>
    req.cache[root + p] !== undefined
  );
  const modules = {} as KafkajsInternals["modules"];
  for (const [name, path] of Object.entries(PATCHED_MODULES)) {
    req(root + path);
    const entry = req.cache[root + path];
    if (!entry) throw new Error(`${path} is not in require.cache`);
    modules[name as PatchedModule] = entry;
  }
  return {
    version: String(req(`${root}package.json`).version),
    modules,
    Encoder: req(root + ENCODER_MODULE),
    loadedCapturers,
  };
}

/** One replacement: `target[key] = value`. */
interface Patch {
  target: Record<string, unknown>;
  key: string;
  value: unknown;
}

function patchesFor(k: KafkajsInternals): Patch[] {
  const m = k.modules as unknown as Record<string, Record<string, unknown>>;
  const encoder = fastEncoder(k.Encoder);
  return [
    {
      target: m.groupMessagesPerPartition,
      key: "exports",
      value: groupMessagesPerPartition,
    },
    { target: m.crc32C, key: "exports", value: crc32c },
    { target: m.murmur2, key: "exports", value: murmur2 },
    {
      target: m.recordV0,
      key: "exports",
      value: fastRecord(m.recordV0.exports as (args: Any) => Any),
    },
    ...PATCHED_METHODS.map((key) => ({
      target: k.Encoder.prototype,
      key,
      value: encoder.prototype[key],
    })),
    { target: k.Encoder, key: "sizeOfVarLong", value: encoder.sizeOfVarLong },
  ];
}

/** Applies every patch, or (when one throws) undoes those applied and rethrows. */
function applyAll(patches: Patch[]): void {
  const done: Array<{ p: Patch; before: unknown }> = [];
  try {
    for (const p of patches) {
      const before = p.target[p.key];
      p.target[p.key] = p.value;
      done.push({ p, before });
    }
  } catch (err) {
    for (const { p, before } of done.reverse()) p.target[p.key] = before;
    throw err;
  }
}

/** Outcome of {@link installKafkajsSpeedups}. */
export interface SpeedupsResult {
  /** True when every patch was applied (false: none is). */
  applied: boolean;
  /** Why not, when not applied. */
  problems: string[];
}

/**
 * Checks the loaded KafkaJS against `expected` and applies all the
 * speed-ups, or none with one warning on `log`. `load` may throw (unknown
 * layout): that, too, leaves KafkaJS stock.
 */
export function installKafkajsSpeedups(
  load: () => KafkajsInternals,
  log: Logger,
  expected: KafkajsExpectation = EXPECTED,
): SpeedupsResult {
  let problems: string[];
  try {
    const internals = load();
    problems = checkKafkajs({
      version: internals.version,
      fingerprints: fingerprintsOf(internals),
      loadedCapturers: internals.loadedCapturers,
    }, expected);
    if (problems.length === 0) {
      applyAll(patchesFor(internals));
      return { applied: true, problems };
    }
  } catch (err) {
    problems = [`cannot patch: ${(err as Error).message}`];
  }
  log.warn("KafkaJS speed-ups not applied, running stock KafkaJS (slower)", {
    problems,
  });
  return { applied: false, problems };
}

/** True when the speed-ups were applied at import (false: stock KafkaJS). */
export const kafkajsSpeedupsApplied: boolean = installKafkajsSpeedups(
  () => loadInternals(),
  // A fixed level: reading LOG_LEVEL here could prompt before main runs.
  createLogger("kafkajs-speedups", "warn"),
).applied;
