import { promises as fs } from 'node:fs';
import { evidenceFile, readLines } from './log-file.js';

/**
 * What the evidence log says each secret's store must hold now: the version its last provisioned,
 * switched or rolled-back record made CURRENT, the versions it retired, and the store id it named.
 * A store whose CURRENT is older, or that holds a retired version again, was put back from an old
 * copy (docs/local-store.md#restored-copies). One streaming pass over the log.
 */

export interface ExpectedState {
  /** The version the evidence made CURRENT last, with the record that did it. */
  current: string | null;
  currentSeq: number;
  currentEvent: string;
  /** When that record was written (its `at`). */
  currentAt: string;
  /** Versions a decommission or a rollback removed, with the seq that did it: only those of the
   * versions the store was asked about holds (wanted), so the state does not grow with the log. */
  retired: Map<string, number>;
  /** The store id (local: header storeId) of the newest record that names one. */
  storeId: string | null;
  storeIdSeq: number;
  /** seq of the newest record for this secret and environment, by the storeId it names ('' for none). */
  lastSeqByStore: Map<string, number>;
}

export interface ExpectedStates {
  /** The log's chain id (hash of its seq-1 record), which names it in the stores' anchors. */
  chainId: string | null;
  targets: Map<string, ExpectedState>;
}

export const targetKey = (secret: string, environment: string): string => `${secret}\u0000${environment}`;

/**
 * Expected states of the wanted targets (keys from targetKey, each with the version ids its store
 * holds: a retirement of any other version cannot be a rollback of that store), from an intact log.
 */
export async function expectedStates(dir: string, wanted: ReadonlyMap<string, ReadonlySet<string>>): Promise<ExpectedStates> {
  const found = new Map<string, ExpectedState>();
  const result: ExpectedStates = { chainId: null, targets: found };
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null || wanted.size === 0) return result;
  for await (const line of readLines(file, size)) {
    if (!line.terminated) continue;
    const record = parse(line.bytes);
    if (record?.seq === 1 && typeof record.hash === 'string') result.chainId = record.hash;
    if (!record || typeof record.secret !== 'string' || typeof record.environment !== 'string' || typeof record.seq !== 'number') continue;
    // Re-encryption records are about a database, not the store: no store anchors them.
    if (record.event === 'reencrypt-stage') continue;
    const key = targetKey(record.secret, record.environment);
    const held = wanted.get(key);
    if (!held) continue;
    let state = found.get(key);
    if (!state) {
      state = { current: null, currentSeq: 0, currentEvent: '', currentAt: '', retired: new Map(), storeId: null, storeIdSeq: 0, lastSeqByStore: new Map() };
      found.set(key, state);
    }
    apply(state, record, held);
  }
  return result;
}

function apply(state: ExpectedState, record: Record<string, unknown>, held: ReadonlySet<string>): void {
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
      if (from && held.has(from)) state.retired.set(from, seq);
      break;
    case 'rolled-back':
      if (from && held.has(from)) state.retired.set(from, seq);
      if (to) {
        Object.assign(state, { current: to, currentSeq: seq, currentEvent: record.event, currentAt: String(record.at ?? '') });
        state.retired.delete(to);
      }
      break;
  }
}

function parse(bytes: Buffer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
