/**
 * NDJSON on stdout, buffered (1 MiB writes). Logs go to stderr, so stdout
 * carries nothing but events. A closed pipe (`… | head`) ends the run
 * cleanly instead of failing.
 *
 * @module
 */
import { OutputClosed } from "./types.ts";
import { BUFFER_BYTES, BufferedLineOutput, writeAllSync } from "./_buffered.ts";

export { OutputClosed };

/** The stdout output. */
export class StdoutOutput extends BufferedLineOutput {
  readonly name = "stdout";
  #readerGone = false;

  /** `out` defaults to `Deno.stdout` (tests pass a fake). */
  constructor(
    private readonly out: { writeSync(p: Uint8Array): number } = Deno.stdout,
  ) {
    super("stdout", BUFFER_BYTES, "output buffer");
  }

  /** Writes to stdout; once the reader is gone, drops what is left. */
  protected writeOut(data: Uint8Array): void {
    if (this.#readerGone) return;
    try {
      writeAllSync(this.out, data);
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) {
        this.#readerGone = true;
        throw new OutputClosed();
      }
      this.stats.errors++;
      throw err;
    }
  }
}
