/** Writes all of `data` to a synchronous writer (writes may be partial). */
export function writeAllSync(
  w: { writeSync(p: Uint8Array): number },
  data: Uint8Array,
): void {
  let off = 0;
  while (off < data.length) off += w.writeSync(data.subarray(off));
}

/** Shared encoder (lines are encoded straight into output buffers). */
export const encoder: TextEncoder = new TextEncoder();

/** Default output buffer: big writes, few syscalls. */
export const BUFFER_BYTES = 1 << 20;
