import { parentPort, workerData } from 'node:worker_threads';
import type { Keyring } from './envelope.js';
import { moveRow } from './rows.js';
import type { WorkerJob, WorkerOutcome, WorkerReply } from './sealer.js';

/**
 * A re-encryption thread (`--threads`): moves the rows of each slice it is sent with the keyring it
 * was started with and sends back, per row, what moveRow decided. It reads and writes no database,
 * no file and no log; a failure goes back as a message without the row's contents.
 */

const data = workerData as { current: string; keys: Array<[string, Uint8Array]>; aad: 'row' | null };
const ring: Keyring = { current: data.current, keys: new Map(data.keys.map(([id, key]) => [id, Buffer.from(key.buffer, key.byteOffset, key.byteLength)])) };
const spec = { aad: data.aad };

parentPort?.on('message', (message: WorkerJob) => {
  let reply: WorkerReply;
  try {
    const outcomes = message.rows.map((row): WorkerOutcome => {
      const outcome = moveRow(row, message.table, ring, message.to, spec);
      return outcome.kind === 'done' ? null : outcome.kind === 'error' ? { code: outcome.code } : { after: outcome.change.after };
    });
    reply = { job: message.job, outcomes };
  } catch (error) {
    reply = { job: message.job, error: error instanceof Error ? error.name : 'error' };
  }
  parentPort?.postMessage(reply);
});
