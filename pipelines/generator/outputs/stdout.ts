/**
 * NDJSON on stdout, buffered (1 MiB writes). Logs go to stderr, so stdout
 * carries nothing but events. A closed pipe (`… | head`) ends the run
 * cleanly instead of failing.
 *
 * @module
 */
import type { EventSlot } from "../models/mod.ts";
import { type EventOutput, OutputClosed, type OutputStats } from "./types.ts";
import { BUFFER_BYTES, encoder, writeAllSync } from "./_write.ts";

export { OutputClosed };

/** The stdout output. */
export class StdoutOutput implements EventOutput {
  readonly name = "stdout";
  readonly stats: OutputStats = {
    events: 0,
    bytes: 0,
    errors: 0,
    perTopic: { stdout: 0 },
    files: 0,
  };
  readonly #buf = new Uint8Array(BUFFER_BYTES);
  #off = 0;

  /** `out` defaults to `Deno.stdout` (tests pass a fake). */
  constructor(
    private readonly out: { writeSync(p: Uint8Array): number } = Deno.stdout,
  ) {}

  /** Buffers one line. */
  write(slot: EventSlot): void {
    this.writeLine(slot.line);
  }

  /** Buffers one line of text. */
  writeLine(line: string): void {
    let r = encoder.encodeInto(line, this.#buf.subarray(this.#off));
    if (r.read < line.length || this.#off + r.written >= this.#buf.length) {
      this.#drain();
      r = encoder.encodeInto(line, this.#buf);
      if (r.read < line.length || r.written >= this.#buf.length) {
        throw new RangeError("event larger than the output buffer");
      }
    }
    this.#buf[this.#off + r.written] = 10;
    this.#off += r.written + 1;
    this.stats.events++;
    this.stats.bytes += r.written + 1;
    this.stats.perTopic.stdout++;
  }

  /** Writes the buffer out. */
  tick(): Promise<void> {
    this.#drain();
    return Promise.resolve();
  }

  /** Writes the buffer out. */
  flush(): Promise<void> {
    this.#drain();
    return Promise.resolve();
  }

  /** Writes the buffer out. */
  close(): Promise<void> {
    this.#drain();
    return Promise.resolve();
  }

  #drain(): void {
    if (this.#off === 0) return;
    const data = this.#buf.subarray(0, this.#off);
    this.#off = 0;
    try {
      writeAllSync(this.out, data);
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) throw new OutputClosed();
      this.stats.errors++;
      throw err;
    }
  }
}
