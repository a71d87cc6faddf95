/**
 * When `start` may stop the movers: the shipper has shipped every byte, both
 * sink groups have committed everything, the CDC relay has gone quiet, and
 * nothing moved since the previous check. {@link behind} names what is not
 * there yet, and by how much, for the drain's log lines.
 *
 * @module
 */
import type { Scrapes } from "./live_view.ts";
import type { Sample } from "./prom_text.ts";

/** The relay is quiet once it read no change event for this long. */
export const CDC_QUIET_MS = 2000;

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
 */
export function cdcQuietMs(samples: Sample[] | undefined): number | undefined {
  return samples?.find((x) =>
    x.name === "debezium_metrics_MilliSecondsSinceLastEvent" &&
    x.labels.context === "streaming"
  )?.value;
}

/** A drain state from the processes' scrapes and the group lags. */
export function drainState(
  s: Scrapes,
  lags: { sinkLag: number; mirrorLag: number; ends: string },
): DrainState {
  const sum = (p: string, name: string) =>
    s[p]?.filter((x) => x.name === name).reduce((n, x) => n + x.value, 0);
  return {
    shipperSent: sum("shipper", "shipper_events_sent_total"),
    shipperLagBytes: sum("shipper", "shipper_checkpoint_lag_bytes"),
    cdcQuietMs: cdcQuietMs(s["cdc"]),
    ...lags,
  };
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
  const q = now.cdcQuietMs;
  // -1: no change read since the relay started; the group lags and the
  // stable end offsets below still catch a relay that is catching up.
  if (q === undefined) out.push("cdc relay: metrics unreachable");
  else if (q >= 0 && q <= CDC_QUIET_MS) {
    out.push(`cdc relay: read a change ${Math.round(q)} ms ago`);
  }
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
