/**
 * Kafka offset ranges of a run: end offsets per partition before and after,
 * and a reader that returns exactly the messages inside those ranges.
 *
 * @module
 */
import type { Kafka } from "../../pipelines/runtime/kafka.ts";

/** Offsets per topic and partition. */
export type Watermarks = Record<string, Record<number, number>>;

/**
 * Runs an admin call again (up to 5 times, 1 s apart) when it fails: leader
 * elections make metadata calls fail for a moment.
 */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** End offsets (high watermarks) of `topics`; missing topics are skipped. */
export function highWatermarks(
  kafka: Kafka,
  topics: string[],
): Promise<Watermarks> {
  return retrying(() => highWatermarksOnce(kafka, topics));
}

async function highWatermarksOnce(
  kafka: Kafka,
  topics: string[],
): Promise<Watermarks> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const out: Watermarks = {};
    for (const t of topics.filter((t) => existing.has(t))) {
      out[t] = {};
      for (const p of await admin.fetchTopicOffsets(t)) {
        out[t][p.partition] = Number(p.high);
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Committed offsets of a consumer group minus end offsets: its lag. */
export function groupLag(
  kafka: Kafka,
  groupId: string,
  topics: string[],
): Promise<number> {
  return retrying(() => groupLagOnce(kafka, groupId, topics));
}

async function groupLagOnce(
  kafka: Kafka,
  groupId: string,
  topics: string[],
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length === 0) return 0;
    const committed = await admin.fetchOffsets({ groupId, topics: present });
    let lag = 0;
    for (const t of committed) {
      const ends = await admin.fetchTopicOffsets(t.topic);
      for (const p of t.partitions) {
        const end = Number(
          ends.find((e) => e.partition === p.partition)?.high ?? 0,
        );
        const at = Number(p.offset);
        lag += at < 0 ? end : Math.max(0, end - at);
      }
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

/** One message read back. */
export interface RangeMessage {
  partition: number;
  offset: number;
  value: string | null;
}

/**
 * Reads every message of `topic` with offsets in `[from[p], to[p])` for each
 * partition p. Resolves when all ranges are complete or `timeoutMs` passes.
 */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  from: Record<number, number>,
  to: Record<number, number>,
  timeoutMs = 120_000,
): Promise<RangeMessage[]> {
  const partitions = Object.keys(to).map(Number).filter((p) =>
    (to[p] ?? 0) > (from[p] ?? 0)
  );
  const out: RangeMessage[] = [];
  if (partitions.length === 0) return out;
  const remaining = new Map(partitions.map((p) => [p, to[p] - (from[p] ?? 0)]));
  const consumer = kafka.consumer({
    groupId: `verify-${crypto.randomUUID()}`,
    maxBytes: 16 * 1024 * 1024,
  });
  await consumer.connect();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => resolveDone = r);
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const p = batch.partition;
        const lo = from[p] ?? 0;
        const hi = to[p] ?? 0;
        for (const m of batch.messages) {
          const off = Number(m.offset);
          if (off < lo || off >= hi) continue;
          out.push({
            partition: p,
            offset: off,
            value: m.value?.toString() ?? null,
          });
          remaining.set(p, (remaining.get(p) ?? 0) - 1);
        }
        if ([...remaining.values()].every((n) => n <= 0)) resolveDone();
        await Promise.resolve();
      },
    });
    for (const p of partitions) {
      consumer.seek({ topic, partition: p, offset: String(from[p] ?? 0) });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((r) => timer = setTimeout(r, timeoutMs));
    await Promise.race([done, timeout]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return out;
}
