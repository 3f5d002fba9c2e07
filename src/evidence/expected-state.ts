import { promises as fs } from 'node:fs';
import { evidenceFile, parseJsonObject, readLines } from './log-file.js';
import { SeqList } from './seq-list.js';
import { readCheckpoint, writeCheckpoint, type CheckpointRef } from './state-checkpoint.js';

/**
 * What the evidence log says each secret's store must hold now: the version its last provisioned,
 * switched or rolled-back record made CURRENT, the versions it retired last, and the store id it
 * named. A store whose CURRENT is older, or that holds a retired version again, was put back from an
 * old copy (docs/local-store.md#restored-copies). One streaming pass over the log, or over the part
 * written since the checkpoint (state-checkpoint.ts) when the caller asks for it.
 */

export interface ExpectedState {
  /** The version the evidence made CURRENT last, with the record that did it. */
  current: string | null;
  currentSeq: number;
  currentEvent: string;
  /** When that record was written (its `at`). */
  currentAt: string;
  /** The last RETIREMENTS_KEPT versions a decommission or a rollback removed, with the seq that did
   * it (oldest first), so the state does not grow with the log. A copy put back that holds an older
   * retired version also holds an older CURRENT, or an anchor older than the log, and is found by
   * those checks. */
  retired: SeqList;
  /** The store id (local: header storeId) of the newest record that names one. */
  storeId: string | null;
  storeIdSeq: number;
  /** seq of the newest record for this secret and environment, by the storeId it names ('' for none). */
  lastSeqByStore: SeqList;
}

export interface ExpectedStates {
  /** The log's chain id (hash of its seq-1 record), which names it in the stores' anchors. */
  chainId: string | null;
  targets: Map<string, ExpectedState>;
  /** With `checkpoint`: the checkpoint that holds now (the one used, or the one just written), for
   * the run's stores to record; null when there is none. */
  checkpoint: CheckpointRef | null;
}

export interface ExpectedStatesOptions {
  /** rotate: start from the log's checkpoint when it matches the log and `vouched` accepts its digest
   * (every store judged recorded it), and write a new one after reading at least CHECKPOINT_EVERY
   * records past it. `evidence verify` and `doctor` read the whole log. */
  checkpoint?: { vouched: (ref: CheckpointRef) => boolean };
}

export const RETIREMENTS_KEPT = 8;
/** Records read past the checkpoint before a new one is written (a few MB of JSON at 10,000 secrets). */
export const CHECKPOINT_EVERY = 1000;

export const targetKey = (secret: string, environment: string): string => `${secret}\u0000${environment}`;

/** Expected states of the wanted targets (keys from targetKey), from an intact log. */
export async function expectedStates(dir: string, wanted: ReadonlySet<string>, options: ExpectedStatesOptions = {}): Promise<ExpectedStates> {
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null || wanted.size === 0) return { chainId: null, targets: new Map(), checkpoint: null };
  const found = options.checkpoint ? await readCheckpoint(dir, file, size, options.checkpoint.vouched) : null;
  const start = found?.checkpoint ?? null;
  let checkpoint = found?.ref ?? null;
  // A checkpoint holds every target of the log (later runs want others); without one, only the wanted.
  const all = options.checkpoint !== undefined;
  const states = start?.targets ?? new Map<string, ExpectedState>();
  let chainId = start?.chainId ?? null;
  let last = start ? { seq: start.seq, hash: start.hash, end: start.end } : null;
  let at = start?.end ?? 0;
  let read = 0;
  for await (const line of readLines(file, size, at)) {
    if (!line.terminated) continue;
    at += line.bytes.length + 1;
    const record = parseJsonObject(line.bytes.toString('utf8'));
    if (!record) continue;
    if (typeof record.seq === 'number' && typeof record.hash === 'string') {
      if (record.seq === 1) chainId = record.hash;
      last = { seq: record.seq, hash: record.hash, end: at };
      read += 1;
    }
    if (typeof record.secret !== 'string' || typeof record.environment !== 'string' || typeof record.seq !== 'number') continue;
    // Re-encryption records are about a database, not the store: no store anchors them.
    if (record.event === 'reencrypt-stage') continue;
    const key = targetKey(record.secret, record.environment);
    if (!all && !wanted.has(key)) continue;
    let state = states.get(key);
    if (!state) {
      state = { current: null, currentSeq: 0, currentEvent: '', currentAt: '', retired: new SeqList(), storeId: null, storeIdSeq: 0, lastSeqByStore: new SeqList() };
      states.set(key, state);
    }
    apply(state, record);
  }
  if (all && chainId !== null && last !== null && read >= CHECKPOINT_EVERY) checkpoint = await writeCheckpoint(dir, { chainId, ...last, targets: states });
  const targets = new Map<string, ExpectedState>();
  for (const key of wanted) {
    const state = states.get(key);
    if (state) targets.set(key, state);
  }
  return { chainId, targets, checkpoint };
}

function apply(state: ExpectedState, record: Record<string, unknown>): void {
  const seq = record.seq as number;
  const to = typeof record.toVersion === 'string' ? record.toVersion : null;
  const from = typeof record.fromVersion === 'string' ? record.fromVersion : null;
  state.lastSeqByStore.set(typeof record.storeId === 'string' ? record.storeId : '', seq);
  if (typeof record.storeId === 'string') Object.assign(state, { storeId: record.storeId, storeIdSeq: seq });
  switch (record.event) {
    case 'provisioned':
    case 'switched':
      if (to) Object.assign(state, { current: to, currentSeq: seq, currentEvent: record.event, currentAt: String(record.at ?? '') });
      if (to) state.retired.delete(to);
      break;
    case 'decommissioned':
      if (from) retire(state, from, seq);
      break;
    case 'rolled-back':
      if (from) retire(state, from, seq);
      if (to) {
        Object.assign(state, { current: to, currentSeq: seq, currentEvent: record.event, currentAt: String(record.at ?? '') });
        state.retired.delete(to);
      }
      break;
  }
}

function retire(state: ExpectedState, version: string, seq: number): void {
  state.retired.delete(version); // re-inserted as the newest
  state.retired.set(version, seq);
  if (state.retired.size > RETIREMENTS_KEPT) state.retired.delete(state.retired.oldest() as string);
}
