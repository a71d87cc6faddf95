/**
 * A decode worker (see worker_pool.ts): answers each `{id, chunk}` with
 * `{id, out}` (decode_chunk.ts), or `{id, error}` when decoding threw.
 *
 * @module
 */
import { type Chunk, decodeChunk } from "./decode_chunk.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<{ id: number; chunk: Chunk }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = (e) => {
  const { id, chunk } = e.data;
  try {
    const out = decodeChunk(chunk);
    scope.postMessage({ id, out }, [out.eventMs.buffer]);
  } catch (err) {
    scope.postMessage({ id, error: String((err as Error)?.message ?? err) });
  }
};
