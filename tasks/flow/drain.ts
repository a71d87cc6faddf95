/**
 * When `start` may stop the movers: the shipper has shipped every byte, both
 * sink groups have committed everything, the CDC relay has confirmed the WAL
 * position PostgreSQL had reached when the generators stopped, and nothing
 * moved since the previous check. {@link behind} names what is not there
 * yet, and by how much, for the drain's log lines.
 *
 * The relay is judged by its LSN, not by how long it read no change: while
 * the walsender decodes a WAL backlog (it decodes the WAL of every table,
 * published or not, before it sends the next change) the relay reads
 * nothing for seconds and looks quiet although it is behind.
 *
 * @module
 */
import { formatLsn, type Lsn, parseLsn } from "../../pipelines/cdc/lsn.ts";
import type { Scrapes } from "./live_view.ts";
import type { Sample } from "./prom_text.ts";

export { formatLsn, type Lsn, parseLsn };

/** One drain check's observations. */
export interface DrainState {
  /** `shipper_events_sent_total` (summed), undefined: unreachable. */
  shipperSent?: number;
  /** `shipper_checkpoint_lag_bytes` (summed). */
  shipperLagBytes?: number;
  /** Messages the events sink group has not committed. */
  sinkLag: number;
  /** Messages the CDC mirror group has not committed. */
  mirrorLag: number;
  /**
   * The relay's `cdc_confirmed_lsn`: every change up to it is acknowledged
   * by Kafka (advanced on keepalives while no change is in flight).
   * Undefined: unreachable.
   */
  cdcLsn?: Lsn;
  /**
   * `pg_current_wal_lsn()` when the generators stopped: the relay is
   * drained once `cdcLsn` reaches it. Undefined: not read yet.
   */
  cdcTarget?: Lsn;
  /** Milliseconds since the relay read a change (-1: none since it started). */
  cdcQuietMs?: number;
  /** The Kafka end offsets of the flow's topics (any stable encoding). */
  ends: string;
}

/**
 * Milliseconds since the CDC relay last read a streamed change, from its
 * `debezium_metrics_MilliSecondsSinceLastEvent{context="streaming"}`. The
 * snapshot series is -1 whenever this relay process took no snapshot (the
 * usual case, and always after a restart), so it must not be the one read.
 * Shown beside the LSN gap only (quiet and behind: decoding a backlog).
 */
export function cdcQuietMs(samples: Sample[] | undefined): number | undefined {
  return samples?.find((x) =>
    x.name === "debezium_metrics_MilliSecondsSinceLastEvent" &&
    x.labels.context === "streaming"
  )?.value;
}

/**
 * The relay's confirmed LSN from its `cdc_confirmed_lsn` gauge. A float
 * holds an LSN exactly below 2^53 (8 PiB of WAL); a value that is not a
 * non-negative integer reads as unknown rather than as a wrong position.
 */
export function cdcConfirmedLsn(
  samples: Sample[] | undefined,
): Lsn | undefined {
  const v = samples?.find((x) => x.name === "cdc_confirmed_lsn")?.value;
  if (v === undefined || !Number.isSafeInteger(v) || v < 0) return undefined;
  return BigInt(v);
}

/** A drain state from the processes' scrapes, the group lags and the WAL target. */
export function drainState(
  s: Scrapes,
  lags: { sinkLag: number; mirrorLag: number; ends: string },
  cdcTarget?: Lsn,
): DrainState {
  const sum = (p: string, name: string) =>
    s[p]?.filter((x) => x.name === name).reduce((n, x) => n + x.value, 0);
  return {
    shipperSent: sum("shipper", "shipper_events_sent_total"),
    shipperLagBytes: sum("shipper", "shipper_checkpoint_lag_bytes"),
    cdcLsn: cdcConfirmedLsn(s["cdc"]),
    cdcTarget,
    cdcQuietMs: cdcQuietMs(s["cdc"]),
    ...lags,
  };
}

/** `12.3 MB`: decimal units, one decimal from kB on. */
export function formatBytes(n: number | bigint): string {
  const v = Number(n);
  if (v < 1000) return `${v} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let x = v / 1000;
  let i = 0;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${x.toFixed(1)} ${units[i]}`;
}

/** Why the relay is not drained, or undefined when it has reached the target. */
export function relayBehind(now: DrainState): string | undefined {
  if (now.cdcTarget === undefined) {
    return "cdc relay: WAL target not read yet (PostgreSQL unreachable)";
  }
  if (now.cdcLsn === undefined) return "cdc relay: metrics unreachable";
  if (now.cdcLsn >= now.cdcTarget) return undefined;
  const q = now.cdcQuietMs;
  const last = q === undefined || q < 0
    ? "no change read since it started"
    : `last change read ${(q / 1000).toFixed(1)} s ago`;
  return `cdc relay: ${
    formatBytes(now.cdcTarget - now.cdcLsn)
  } of WAL behind (confirmed ${formatLsn(now.cdcLsn)}, target ${
    formatLsn(now.cdcTarget)
  }; ${last})`;
}

/**
 * What is not drained in `now` (empty: drained), compared with the previous
 * check. A generator killed mid-write can leave a torn last line that is
 * never shipped, so the shipper counts as drained when it stops moving.
 */
export function behind(now: DrainState, previous?: DrainState): string[] {
  const out: string[] = [];
  if (now.sinkLag > 0) out.push(`sink: ${now.sinkLag} messages uncommitted`);
  if (now.mirrorLag > 0) {
    out.push(`CDC mirror sink: ${now.mirrorLag} messages uncommitted`);
  }
  const relay = relayBehind(now);
  if (relay) out.push(relay);
  // An unreachable shipper (restarting) does not hold the drain, as before.
  if (
    previous &&
    (previous.shipperSent !== now.shipperSent ||
      previous.shipperLagBytes !== now.shipperLagBytes)
  ) {
    out.push(
      `shipper: still sending (${
        (now.shipperSent ?? 0) - (previous.shipperSent ?? 0)
      } events since the last check, ${
        now.shipperLagBytes ?? 0
      } B not acknowledged)`,
    );
  }
  if (!previous) out.push("first check");
  else if (previous.ends !== now.ends) out.push("Kafka end offsets moved");
  return out;
}
