/**
 * Turns one input line into Kafka messages: decode it for its declared
 * format, route it, and encode the value — or turn it into a dead letter.
 * Never throws on input.
 *
 * Formats:
 * - `ndjson`: one JSON object per line, shipped byte-for-byte as the value.
 * - `text`: any line, wrapped as `{message, file, host?, ts}`.
 * - `docker`: Docker's json-file log lines `{"log","stream","time"}`, shipped
 *   as `{message, stream, timestamp, file, container_id?, host?}`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { BatchBuilder } from "./batch.ts";
import { FieldSet, scanObject } from "./json_scan.ts";
import type { Router } from "./routing.ts";

/** Input formats. */
export const FORMATS = ["ndjson", "text", "docker"] as const;
/** One of {@link FORMATS}. */
export type Format = typeof FORMATS[number];

/** A dead letter as the data contract defines it. */
export interface DeadLetter {
  reason: string;
  source: string;
  original: string;
  pipeline: "shipper";
  ts: string;
}

/** Longest `original` text kept in a dead letter (Kafka message size). */
export const DLQ_ORIGINAL_MAX_CHARS = 64 * 1024;

/** Settings of an {@link Encoder}. */
export interface EncoderOptions {
  router: Router;
  dlqTopic: string;
  /** Added as `host` to wrapped (text/docker) events when set. */
  hostName?: string;
  /** Counts dead letters by reason class (metrics). */
  onDeadLetter?: (reasonClass: string) => void;
}

const CONTAINER_RE = /containers\/([0-9a-f]{12,64})\//;

/** Decodes, routes and encodes lines into a {@link BatchBuilder}. */
export class Encoder {
  readonly #decoder = new TextDecoder();
  readonly #opts: EncoderOptions;
  readonly #fields: FieldSet;

  /** Creates an encoder. */
  constructor(opts: EncoderOptions) {
    this.#opts = opts;
    this.#fields = new FieldSet(opts.router.fields);
  }

  /**
   * Adds the messages of one line to `out` (or one dead letter) and counts
   * the event. `source` names where it came from (file path or `http`).
   */
  encode(
    line: Uint8Array,
    format: Format,
    kind: "file" | "http",
    source: string,
    out: BatchBuilder,
  ): void {
    if (format === "ndjson") {
      // Fast path: validate the bytes and pick only the routing fields; the
      // line travels as its original bytes. Anything else (invalid JSON, not
      // an object) takes the JSON.parse path below, which words the reason.
      const fields = scanObject(line, this.#fields);
      if (fields) {
        this.#emit(fields, kind, source, line, false, out);
        return;
      }
    }
    const text = this.#decoder.decode(line);
    let event: Record<string, unknown>;
    if (format === "text") {
      event = this.#wrap({ message: text, file: source });
    } else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        this.deadLetter(
          out,
          "invalid_json",
          `invalid JSON: ${(err as Error).message}`,
          source,
          text,
        );
        return;
      }
      if (
        typeof parsed !== "object" || parsed === null || Array.isArray(parsed)
      ) {
        this.deadLetter(
          out,
          "not_object",
          "not a JSON object",
          source,
          text,
        );
        return;
      }
      if (format === "docker") {
        const d = parsed as Record<string, unknown>;
        if (typeof d.log !== "string") {
          this.deadLetter(
            out,
            "not_docker",
            'not a Docker json-file line (no string "log")',
            source,
            text,
          );
          return;
        }
        const container = CONTAINER_RE.exec(source)?.[1];
        event = this.#wrap({
          message: d.log.endsWith("\n") ? d.log.slice(0, -1) : d.log,
          stream: typeof d.stream === "string" ? d.stream : "stdout",
          timestamp: typeof d.time === "string" ? d.time : undefined,
          file: source,
          ...(container ? { container_id: container } : {}),
        });
      } else event = parsed as Record<string, unknown>;
    }
    this.#emit(event, kind, source, line, format !== "ndjson", out);
  }

  /** Routes `event` and adds its messages (or its dead letter) to `out`. */
  #emit(
    event: Record<string, unknown>,
    kind: "file" | "http",
    source: string,
    line: Uint8Array,
    wrapped: boolean,
    out: BatchBuilder,
  ): void {
    const routed = this.#opts.router(event, kind);
    if (!routed.ok) {
      const text = this.#decoder.decode(line);
      this.deadLetter(out, "no_route", routed.reason, source, text);
      return;
    }
    // NDJSON travels as the original bytes: no re-encoding cost, no drift.
    const value = wrapped
      ? Buffer.from(JSON.stringify(event))
      : Buffer.from(line.buffer, line.byteOffset, line.byteLength);
    for (const d of routed.destinations) out.add(d.topic, d.key, value);
    out.countEvent();
  }

  /** Adds a dead letter for an over-size line. */
  oversize(
    sample: Uint8Array,
    size: number,
    limit: number,
    source: string,
    out: BatchBuilder,
  ): void {
    this.deadLetter(
      out,
      "too_large",
      `line of ${size} bytes exceeds the limit of ${limit} bytes (original truncated to ${sample.length} bytes)`,
      source,
      this.#decoder.decode(sample),
    );
  }

  /** Adds a dead letter (reason, source, original text) to `out`. */
  deadLetter(
    out: BatchBuilder,
    reasonClass: string,
    reason: string,
    source: string,
    original: string,
  ): void {
    const dl: DeadLetter = {
      reason,
      source,
      original: original.length > DLQ_ORIGINAL_MAX_CHARS
        ? original.slice(0, DLQ_ORIGINAL_MAX_CHARS)
        : original,
      pipeline: "shipper",
      ts: new Date().toISOString(),
    };
    out.add(this.#opts.dlqTopic, source, Buffer.from(JSON.stringify(dl)));
    out.deadLetters++;
    out.countEvent();
    this.#opts.onDeadLetter?.(reasonClass);
  }

  #wrap(fields: Record<string, unknown>): Record<string, unknown> {
    const event: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) event[k] = v;
    }
    if (this.#opts.hostName) event.host = this.#opts.hostName;
    event.ts = new Date().toISOString();
    return event;
  }
}
