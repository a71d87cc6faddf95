/**
 * The slot/job machinery shared by the pipelines' worker pools (the
 * shipper's gzip pool, the sink's decode pool): a fixed number of Web
 * Worker slots, each started on first use; a job goes to the least busy
 * slot; answers are matched to jobs by id; a worker that dies fails its
 * jobs and is replaced on next use.
 *
 * The protocol: a job is posted as `{id, ...payload}`; the worker answers
 * `{id, out}` or `{id, error}` (a message: the job threw there).
 *
 * What a pool adds on top (a byte budget, a closed check, its own error
 * class and metrics) stays in the pool: this module has no policy. It only
 * is imported by the pools, never loaded as a worker script, so it needs no
 * read permission of its own.
 *
 * @module
 */

/** Options of a {@link WorkerSlots}. */
export interface WorkerSlotsOptions<Tag> {
  /** Number of workers (≥ 1); the caller checks it. */
  size: number;
  /** The worker module (a file URL or a blob URL). */
  url: string | URL;
  /** Worker names are `${name}-${index}` (they show in stack traces). */
  name: string;
  /** The error a job fails with when its worker answered `{error}`. */
  answerError: (message: string) => Error;
  /** The error a dead worker's jobs fail with (`message`: the event's). */
  crashError: (message: string) => Error;
  /** Called once per worker that died, after its jobs failed. */
  onCrash?: (err: Error) => void;
  /**
   * Called with a job's tag when the job leaves (answered or failed), before
   * its promise settles: pools release what they reserved for it here.
   */
  onSettle?: (tag: Tag) => void;
}

interface Slot {
  worker: Worker;
  pending: number;
}

interface Job<Out, Tag> {
  resolve(out: Out): void;
  reject(err: Error): void;
  slot: Slot;
  tag: Tag;
}

/** An answer from a worker (see module docs). */
interface Answer<Out> {
  id: number;
  out?: Out;
  error?: string;
}

/**
 * A fixed set of worker slots; {@link WorkerSlots.run} sends a job to the
 * least busy one. `Out` is what a worker answers, `Tag` what the pool keeps
 * per job (handed back to `onSettle`).
 */
export class WorkerSlots<Out, Tag = undefined> {
  readonly #opts: WorkerSlotsOptions<Tag>;
  readonly #slots: Array<Slot | undefined>;
  readonly #jobs = new Map<number, Job<Out, Tag>>();
  #nextId = 0;

  /** Creates the slots; no worker starts before the first job. */
  constructor(opts: WorkerSlotsOptions<Tag>) {
    this.#opts = opts;
    this.#slots = new Array(opts.size).fill(undefined);
  }

  /** Jobs not answered yet. */
  get pending(): number {
    return this.#jobs.size;
  }

  /**
   * Posts `{id, ...payload}` (transferring `transfer`) to the least busy
   * worker. The job is posted before this returns, so jobs reach a worker
   * in call order.
   */
  run(
    payload: Record<string, unknown>,
    transfer: Transferable[],
    tag: Tag,
  ): Promise<Out> {
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<Out>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject, slot, tag });
      slot.pending++;
      slot.worker.postMessage({ id, ...payload }, transfer);
    });
  }

  /** Stops every worker; their unanswered jobs fail with `err`. */
  close(err: Error): void {
    for (const [i, s] of this.#slots.entries()) {
      if (s) this.#fail(s, err);
      this.#slots[i] = undefined;
    }
  }

  #pick(): Slot {
    let best: Slot | undefined;
    for (let i = 0; i < this.#slots.length; i++) {
      const s = this.#slots[i] ?? (this.#slots[i] = this.#start(i));
      if (!best || s.pending < best.pending) best = s;
    }
    return best!;
  }

  #start(index: number): Slot {
    const worker = new Worker(this.#opts.url, {
      type: "module",
      name: `${this.#opts.name}-${index}`,
    });
    const slot: Slot = { worker, pending: 0 };
    worker.onmessage = (e: MessageEvent<Answer<Out>>) =>
      this.#answer(slot, e.data);
    worker.onerror = (e: ErrorEvent) => {
      // The process goes on: this worker's jobs fail (the pool decides what
      // the caller does then) and a fresh worker takes its place on next use.
      e.preventDefault();
      const err = this.#opts.crashError(e.message);
      this.#fail(slot, err);
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots[i] = undefined;
      this.#opts.onCrash?.(err);
    };
    return slot;
  }

  #answer(slot: Slot, a: Answer<Out>): void {
    const job = this.#jobs.get(a.id);
    if (!job) return; // its worker was failed already
    this.#jobs.delete(a.id);
    slot.pending--;
    this.#opts.onSettle?.(job.tag);
    if (a.out) job.resolve(a.out);
    else job.reject(this.#opts.answerError(`${a.error}`));
  }

  #fail(slot: Slot, err: Error): void {
    slot.worker.terminate();
    for (const [id, job] of this.#jobs) {
      if (job.slot !== slot) continue;
      this.#jobs.delete(id);
      this.#opts.onSettle?.(job.tag);
      job.reject(err);
    }
    slot.pending = 0;
  }
}
