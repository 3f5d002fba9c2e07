import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import { KeyshiftError } from '../errors.js';
import type { Row, TableSpec } from './databases/contract.js';
import type { Keyring } from './envelope.js';
import { moveRow, type RowOutcome } from './rows.js';

/**
 * Where a stage's AES work happens. Inline (the default): on the thread that also reads and writes
 * the database, so a run takes one core and leaves the others to the application. With
 * `--threads n`: n worker threads seal each batch in slices while the main thread writes the batch
 * before it, for a run that may take the machine (docs/reencrypt.md#threads).
 */
export interface Sealer {
  /** moveRow of each row, in order. */
  move(rows: Row[], table: TableSpec, to: string): Promise<RowOutcome[]>;
  /** Worker threads (0: inline). */
  readonly threads: number;
  /** Rows each worker thread has sealed (empty inline): what shows the threads did the work. */
  readonly rowsPerThread: number[];
  close(): Promise<void>;
}

export function inlineSealer(ring: Keyring, spec: Pick<ReencryptSpec, 'aad'>): Sealer {
  return {
    move: async (rows, table, to) => rows.map((row) => moveRow(row, table, ring, to, spec)),
    threads: 0,
    rowsPerThread: [],
    close: async () => {},
  };
}

/** What a worker sends back per row: null (nothing to move), the sealed columns, or an error code. */
export type WorkerOutcome = null | { after: Record<string, string | null> } | { code: string };

export interface WorkerJob {
  job: number;
  rows: Row[];
  table: TableSpec;
  to: string;
}

export interface WorkerReply {
  job: number;
  outcomes?: WorkerOutcome[];
  /** A failure of the worker itself (not of a row), without any key or value. */
  error?: string;
}

/**
 * A thread's heap holds a slice of one batch at a time. Left to V8's defaults (sized for the whole
 * machine's memory) each thread's heap, and the cipher contexts its garbage keeps alive, grew by
 * tens of MB before a collection; these bounds keep a thread to a few MB (bench/README.md).
 */
const WORKER_HEAP = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 };

/** The smallest slice worth a message to another thread: below it, one worker takes the batch. */
const MIN_SLICE = 64;

export async function threadSealer(ring: Keyring, spec: Pick<ReencryptSpec, 'aad'>, threads: number): Promise<Sealer> {
  const { Worker } = await import('node:worker_threads');
  const workerData = { current: ring.current, keys: [...ring.keys].map(([id, key]) => [id, new Uint8Array(key)]), aad: spec.aad };
  const pending = new Map<number, { resolve: (outcomes: WorkerOutcome[]) => void; reject: (error: Error) => void }>();
  let failure: KeyshiftError | null = null;
  const fail = (why: string): void => {
    failure ??= new KeyshiftError('ERR_REENCRYPT_THREAD', `a re-encryption thread failed: ${why}`, { hint: 'rerun without --threads; the checkpoint resumes the run' });
    for (const job of pending.values()) job.reject(failure);
    pending.clear();
  };
  const rowsPerThread = new Array<number>(threads).fill(0);
  const workers = Array.from({ length: threads }, (_, thread) => {
    const worker = new Worker(new URL('./seal-worker.js', import.meta.url), { workerData, resourceLimits: WORKER_HEAP });
    worker.on('message', (reply: WorkerReply) => {
      const job = pending.get(reply.job);
      if (!job) return;
      if (!reply.outcomes) return fail(reply.error ?? 'no reply');
      pending.delete(reply.job);
      rowsPerThread[thread] = (rowsPerThread[thread] as number) + reply.outcomes.length;
      job.resolve(reply.outcomes);
    });
    // The error's code or name only (ERR_WORKER_OUT_OF_MEMORY, TypeError): its message could quote a row.
    worker.on('error', (error) => fail(error instanceof Error ? ((error as { code?: string }).code ?? error.name) : 'error'));
    worker.on('exit', (code) => pending.size > 0 && fail(`exited with code ${code}`));
    return worker;
  });
  let nextJob = 0;
  const send = (thread: number, rows: Row[], table: TableSpec, to: string) =>
    new Promise<WorkerOutcome[]>((resolve, reject) => {
      if (failure) return reject(failure);
      const job = nextJob++;
      pending.set(job, { resolve, reject });
      (workers[thread] as InstanceType<typeof Worker>).postMessage({ job, rows, table, to } satisfies WorkerJob);
    });
  let turn = 0;
  return {
    async move(rows, table, to) {
      const slices = Math.max(1, Math.min(threads, Math.floor(rows.length / MIN_SLICE)));
      const size = Math.ceil(rows.length / slices);
      const parts: Promise<WorkerOutcome[]>[] = [];
      for (let start = 0; start < rows.length; start += size) parts.push(send(turn++ % threads, rows.slice(start, start + size), table, to));
      const outcomes = (await Promise.all(parts)).flat();
      return outcomes.map((outcome, i): RowOutcome => {
        if (outcome === null) return { kind: 'done' };
        if ('code' in outcome) return { kind: 'error', code: outcome.code };
        const row = rows[i] as Row;
        return { kind: 'change', change: { key: row.key, before: row.values, after: outcome.after } };
      });
    },
    threads,
    rowsPerThread,
    async close() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
