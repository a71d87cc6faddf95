/**
 * The slot-lag watcher: polls how far the slot's confirmed position and its
 * retained WAL are behind the server, sets the gauges, and warns once each
 * time the retained WAL crosses the threshold.
 *
 * @module
 */
import type { Logger } from "../runtime/log.ts";

/** Slot lag and retained WAL, bytes (see `slotLag` in catalog.ts). */
export interface SlotLag {
  lagBytes: number;
  retainedBytes: number;
}

/** A gauge's setter (prom-client's `Gauge`). */
export interface GaugeSetter {
  set(value: number): void;
}

/** How often the relay polls the slot's lag. */
export const SLOT_LAG_POLL_MS = 10_000;

/** Polls one slot's lag into gauges. */
export class SlotLagWatcher {
  #warned = false;

  /** `query` reads the lag (`undefined` when the slot is gone). */
  constructor(
    private readonly opts: {
      slot: string;
      query: () => Promise<SlotLag | undefined>;
      thresholdBytes: number;
      gauges: {
        lagBytes: GaugeSetter;
        retainedBytes: GaugeSetter;
        retainedWarning: GaugeSetter;
      };
      log: Logger;
    },
  ) {}

  /** One poll; never throws (a failed query is a warning). */
  async poll(): Promise<void> {
    const { opts } = this;
    try {
      const lag = await opts.query();
      if (!lag) return;
      opts.gauges.lagBytes.set(lag.lagBytes);
      opts.gauges.retainedBytes.set(lag.retainedBytes);
      const over = lag.retainedBytes > opts.thresholdBytes;
      opts.gauges.retainedWarning.set(over ? 1 : 0);
      if (over && !this.#warned) {
        opts.log.warn("replication slot retains more WAL than the threshold", {
          slot: opts.slot,
          retained_bytes: lag.retainedBytes,
          threshold_bytes: opts.thresholdBytes,
        });
      }
      this.#warned = over;
    } catch (err) {
      opts.log.warn("slot lag query failed", { err });
    }
  }
}
