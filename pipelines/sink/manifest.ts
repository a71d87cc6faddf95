/**
 * The batch manifest: before a batch is inserted, each Kafka partition's
 * offset range and ingest time are recorded durably in the consumer group's
 * committed-offset metadata (offset unchanged, metadata = this record).
 * After a crash the next owner of the partition reads it and re-forms exactly
 * that range with exactly that ingest time, so the retried insert is
 * byte-identical and ReplicatedMergeTree drops it as a duplicate block.
 *
 * @module
 */

/** A range that was (maybe) inserted but not yet committed past. */
export interface PendingRange {
  /** Last offset of the range (inclusive). */
  to: number;
  /** Ingest time of the range, epoch seconds. */
  ts: number;
}

const VERSION = 1;

/** Encodes the offset-commit metadata of a pending range. */
export function encodeManifest(p: PendingRange): string {
  return JSON.stringify({ sink: VERSION, to: p.to, ts: p.ts });
}

/** Decodes offset-commit metadata; anything else (empty, foreign) → undefined. */
export function decodeManifest(
  metadata: string | null | undefined,
): PendingRange | undefined {
  if (!metadata) return undefined;
  try {
    const v = JSON.parse(metadata);
    if (
      v && v.sink === VERSION && Number.isSafeInteger(v.to) && v.to >= 0 &&
      Number.isSafeInteger(v.ts) && v.ts > 0
    ) return { to: v.to, ts: v.ts };
  } catch {
    // Metadata written by another tool: not ours.
  }
  return undefined;
}
