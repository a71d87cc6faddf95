/**
 * The shipper's Prometheus metrics.
 *
 * @module
 */
import { type HopClock, HopHistogram, prom } from "../runtime/mod.ts";

/** All shipper metrics, registered on one registry. */
export interface ShipperMetrics {
  linesRead: prom.Counter<"source">;
  bytesRead: prom.Counter<"source">;
  eventsSent: prom.Counter<"topic">;
  bytesSent: prom.Counter<"source">;
  batchesSent: prom.Counter<"source">;
  sendSeconds: prom.Histogram<"source">;
  sendErrors: prom.Counter<never>;
  deadLetters: prom.Counter<"reason">;
  checkpointLag: prom.Gauge<"file">;
  filesTracked: prom.Gauge<never>;
  bufferDepthBytes: prom.Gauge<never>;
  bufferSegments: prom.Gauge<never>;
  httpRequests: prom.Counter<"code">;
  httpEventsAccepted: prom.Counter<never>;
  /** `pipeline_hop_seconds`: hops `read` and `produce` (file lines). */
  hops: HopHistogram;
}

/** Creates and registers the shipper metrics. */
export function createMetrics(registry: prom.Registry): ShipperMetrics {
  const registers = [registry];
  return {
    linesRead: new prom.Counter({
      name: "shipper_lines_read_total",
      help: "Lines (events) read, by source (file, http)",
      labelNames: ["source"],
      registers,
    }),
    bytesRead: new prom.Counter({
      name: "shipper_bytes_read_total",
      help: "Bytes read from files and the disk buffer",
      labelNames: ["source"],
      registers,
    }),
    eventsSent: new prom.Counter({
      name: "shipper_events_sent_total",
      help: "Messages acknowledged by Kafka, by topic",
      labelNames: ["topic"],
      registers,
    }),
    bytesSent: new prom.Counter({
      name: "shipper_bytes_sent_total",
      help: "Message value bytes acknowledged by Kafka",
      labelNames: ["source"],
      registers,
    }),
    batchesSent: new prom.Counter({
      name: "shipper_batches_sent_total",
      help: "Batches acknowledged by Kafka",
      labelNames: ["source"],
      registers,
    }),
    sendSeconds: new prom.Histogram({
      name: "shipper_send_duration_seconds",
      help: "Time from sending a batch to Kafka's acknowledgement (acks=all)",
      labelNames: ["source"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    sendErrors: new prom.Counter({
      name: "shipper_send_errors_total",
      help: "Failed batch sends (retried)",
      registers,
    }),
    deadLetters: new prom.Counter({
      name: "shipper_dead_letters_total",
      help: "Events sent to the dead-letter topic, by reason",
      labelNames: ["reason"],
      registers,
    }),
    checkpointLag: new prom.Gauge({
      name: "shipper_checkpoint_lag_bytes",
      help: "Bytes of a file not yet acknowledged by Kafka (size - checkpoint)",
      labelNames: ["file"],
      registers,
    }),
    filesTracked: new prom.Gauge({
      name: "shipper_files_tracked",
      help: "Files currently tracked by the file source",
      registers,
    }),
    bufferDepthBytes: new prom.Gauge({
      name: "shipper_buffer_depth_bytes",
      help: "Bytes in the HTTP disk buffer not yet acknowledged by Kafka",
      registers,
    }),
    bufferSegments: new prom.Gauge({
      name: "shipper_buffer_segments",
      help: "Segment files in the HTTP disk buffer",
      registers,
    }),
    httpRequests: new prom.Counter({
      name: "shipper_http_requests_total",
      help: "HTTP ingest requests, by status code",
      labelNames: ["code"],
      registers,
    }),
    httpEventsAccepted: new prom.Counter({
      name: "shipper_http_events_accepted_total",
      help: "Events accepted (202) by HTTP ingest, durably buffered",
      registers,
    }),
    hops: new HopHistogram(registry),
  };
}

/**
 * The `read` hop of `lines` just read from `file`: its mtime (the last
 * write) stands for when they were written, one fstat per productive read.
 * Also marks their read time in `reads` (the batch's `produce` hop).
 */
export async function observeRead(
  m: ShipperMetrics,
  reads: HopClock,
  file: Deno.FsFile,
  lines: number,
): Promise<void> {
  const now = Date.now();
  reads.mark(now, lines);
  const mtime = (await file.stat().catch(() => undefined))?.mtime?.getTime();
  if (mtime) m.hops.observe("read", (now - mtime) / 1000, lines);
}

/** The `produce` hop of a batch Kafka just acknowledged (file lines). */
export function observeProduce(
  m: ShipperMetrics,
  b: { readAtMs?: number; readLines?: number },
): void {
  if (!b.readLines) return;
  m.hops.observe("produce", (Date.now() - b.readAtMs!) / 1000, b.readLines);
}
