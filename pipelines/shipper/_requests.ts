/**
 * How the Kafka sink cuts a batch into produce requests: one slice per
 * partition, the slices of one leader broker in one request, and a request
 * too large split in halves.
 *
 * Why: the idempotent producer keeps one request in flight per broker
 * connection, so a batch cut into one request per partition (18 with the
 * flow's six topics of three partitions) queued six acks=all round trips
 * behind each other on every broker. At 2,000 events/s on a loaded machine
 * that was the shipper's multi-second `produce` hop (README "Latency or
 * throughput: the knobs"). KafkaJS puts the partitions of one `sendBatch` that
 * share a leader into one request, so grouping a batch's slices by leader
 * sends it as one request per broker, each still one record batch per
 * partition.
 *
 * The leader only decides the grouping, never the safety: the sink makes a
 * group wait for the previous request of every partition in it, so a stale
 * leader costs a second request, not a second request in flight for one
 * partition.
 *
 * @module
 */
import {
  keyPartition,
  type TopicMessages as AnyTopicMessages,
} from "../runtime/producer.ts";
import type { OutMessage } from "./batch.ts";

/** The messages of one batch for one topic-partition. */
export interface Slice {
  topic: string;
  partition: number;
  messages: OutMessage[];
}

/** Messages by topic, the shape of KafkaJS `sendBatch`'s `topicMessages`. */
export type TopicMessages = AnyTopicMessages<OutMessage>;

/**
 * Groups `slices` by the leader broker of their partition, in first-seen
 * order. A slice whose leader is unknown gets a group of its own (one
 * request per partition, as without grouping).
 */
export function groupByLeader(
  slices: Slice[],
  leaderOf: (topic: string, partition: number) => number | undefined,
): Slice[][] {
  const byLeader = new Map<number, Slice[]>();
  const out: Slice[][] = [];
  for (const s of slices) {
    const leader = leaderOf(s.topic, s.partition);
    if (leader === undefined || leader < 0) {
      out.push([s]);
      continue;
    }
    let group = byLeader.get(leader);
    if (!group) {
      group = [];
      byLeader.set(leader, group);
      out.push(group);
    }
    group.push(s);
  }
  return out;
}

/**
 * The group as KafkaJS topic messages (each message keeps the partition the
 * sink chose, so KafkaJS sends it there).
 */
export function toTopicMessages(group: Slice[]): TopicMessages {
  const byTopic = new Map<string, OutMessage[]>();
  for (const s of group) {
    const list = byTopic.get(s.topic);
    if (list) list.push(...s.messages);
    else byTopic.set(s.topic, [...s.messages]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * Cuts topic messages into per-partition slices, keeping message order
 * within each slice, and sets each message's `partition`. Keyed messages go
 * where KafkaJS's DefaultPartitioner (Java-compatible murmur2) puts them;
 * messages without a key are spread round-robin (`rr` holds the counters).
 */
export function slicePartitions(
  tm: TopicMessages,
  partitionsOf: (topic: string) => number,
  rr: Map<string, number>,
): Slice[] {
  const out: Slice[] = [];
  for (const { topic, messages } of tm) {
    const n = partitionsOf(topic);
    const byPartition: Slice[] = [];
    let counter = rr.get(topic) ?? 0;
    for (const m of messages) {
      const p = m.key === null ? counter++ % n : keyPartition(m.key, n);
      m.partition = p;
      (byPartition[p] ??= { topic, partition: p, messages: [] }).messages
        .push(m);
    }
    rr.set(topic, counter % n);
    for (const s of byPartition) if (s) out.push(s);
  }
  return out;
}

/** Splits topic messages into the first `n` messages and the rest. */
export function splitHalves(
  tm: TopicMessages,
  n: number,
): [TopicMessages, TopicMessages] {
  const a: TopicMessages = [];
  const b: TopicMessages = [];
  let left = n;
  for (const t of tm) {
    if (left >= t.messages.length) {
      a.push(t);
      left -= t.messages.length;
    } else if (left > 0) {
      a.push({ topic: t.topic, messages: t.messages.slice(0, left) });
      b.push({ topic: t.topic, messages: t.messages.slice(left) });
      left = 0;
    } else b.push(t);
  }
  return [a, b];
}
