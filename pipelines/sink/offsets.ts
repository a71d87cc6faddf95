/**
 * The consumer group's offsets as the sink reads them: the committed offset
 * and manifest metadata of each partition (loaded once per group join), and
 * the lag gauge (high watermark − committed).
 *
 * @module
 */
import type { Kafka } from "kafkajs";
import type { PartitionState } from "./batch.ts";
import type { SinkMetrics } from "./metrics.ts";

type Admin = ReturnType<Kafka["admin"]>;

/** A partition's committed offset and its metadata (the manifest). */
export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

/** The committed offsets of `group`, per topic, cached until {@link clear}. */
export class CommittedOffsets {
  readonly #admin: Admin;
  readonly #group: string;
  readonly #loads = new Map<string, Promise<Map<number, CommittedOffset>>>();

  /** Reads through `admin` for consumer group `group`. */
  constructor(admin: Admin, group: string) {
    this.#admin = admin;
    this.#group = group;
  }

  /** Forgets what was loaded (a new join may bring other commits). */
  clear(): void {
    this.#loads.clear();
  }

  /** The committed offsets (with metadata) of `topic`, loaded once per join. */
  of(topic: string): Promise<Map<number, CommittedOffset>> {
    let p = this.#loads.get(topic);
    if (!p) {
      p = this.#admin.fetchOffsets({
        groupId: this.#group,
        topics: [topic],
      }).then((res) => {
        const m = new Map<number, CommittedOffset>();
        for (const t of res) {
          for (const q of t.partitions) {
            m.set(q.partition, {
              offset: Number(q.offset),
              metadata: q.metadata ?? null,
            });
          }
        }
        return m;
      });
      p.catch(() => this.#loads.delete(topic));
      this.#loads.set(topic, p);
    }
    return p;
  }
}

/** Sets `sink_consumer_lag` for every partition in `states`. */
export async function updateLag(
  admin: Admin,
  states: Iterable<PartitionState>,
  metrics: SinkMetrics,
): Promise<void> {
  const byTopic = new Map<string, PartitionState[]>();
  for (const st of states) {
    const l = byTopic.get(st.topic) ?? [];
    l.push(st);
    byTopic.set(st.topic, l);
  }
  for (const [topic, list] of byTopic) {
    const offsets = await admin.fetchTopicOffsets(topic);
    for (const st of list) {
      if (st.dropped) continue;
      const o = offsets.find((x) => x.partition === st.partition);
      if (!o) continue;
      const base = st.committed >= 0 ? st.committed : Number(o.low);
      metrics.lag.set(
        { topic, partition: String(st.partition) },
        Math.max(0, Number(o.high) - base),
      );
    }
  }
}
