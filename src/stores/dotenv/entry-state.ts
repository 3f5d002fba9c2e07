import type { Stage } from '../contract.js';
import type { StoredEntry } from '../local/entry-codec.js';
import { removeValue, setValue, valueOf, type EnvFile } from './env-lines.js';
import { valueCheck, type Sidecar, type SidecarState } from './sidecar.js';

/**
 * One variable of a dotenv store: its lines (`NAME`, `NAME_PENDING`, `NAME_PREVIOUS`) and its
 * sidecar entry, read into one entry with values and written back (dotenv-store.ts says why the
 * sidecar keeps a prior state).
 */

export const SUFFIX: Record<Stage, string> = { CURRENT: '', PENDING: '_PENDING', PREVIOUS: '_PREVIOUS' };
export const STAGES: Stage[] = ['CURRENT', 'PENDING', 'PREVIOUS'];
/** The version id of a value that was in the .env file before keyshift managed it. */
export const ADOPTED_VERSION = 'v-adopted';

/**
 * The recorded state the lines match — strictly (the lines are exactly the state's), else loosely
 * (a stray line keyshift never wrote) — the new state before the prior one; the value found in the
 * file when nothing is recorded; null when there is neither; 'mismatch' when the lines hold values
 * no recorded state has (a hand edit).
 */
export function resolveEntry(env: EnvFile, sidecar: Sidecar, key: string, envMtime: string): StoredEntry | null | 'mismatch' {
  const lines = new Map<Stage, string>();
  for (const stage of STAGES) {
    const value = valueOf(env, key + SUFFIX[stage]);
    if (value !== undefined) lines.set(stage, value);
  }
  const recorded = sidecar.entries[key];
  if (!recorded) {
    const current = lines.get('CURRENT');
    if (current === undefined) return null;
    const versions = [{ id: ADOPTED_VERSION, stages: ['CURRENT' as Stage], createdAt: envMtime, value: Buffer.from(current).toString('base64') }];
    return { versions, retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
  }
  const check = (text: string) => valueCheck(sidecar.checkKey, Buffer.from(text));
  const matches = (state: SidecarState | null, strict: boolean): boolean =>
    state !== null &&
    state.versions.every((v) => v.stages.every((stage) => lines.has(stage) && check(lines.get(stage) as string) === v.check)) &&
    (!strict || [...lines.keys()].every((stage) => state.versions.some((v) => v.stages.includes(stage))));
  if (!matches(recorded.state, true) && recorded.prior === null && lines.size === 0) return null; // provisioned by a write that did not land
  const state = [
    matches(recorded.state, true) && recorded.state,
    matches(recorded.prior, true) && recorded.prior,
    matches(recorded.state, false) && recorded.state,
    matches(recorded.prior, false) && recorded.prior,
  ].find(Boolean);
  if (!state) return 'mismatch';
  return {
    versions: state.versions.map((v) => ({ id: v.id, stages: [...v.stages], createdAt: v.createdAt, value: Buffer.from(lines.get(v.stages[0] as Stage) as string).toString('base64') })),
    retired: structuredClone(state.retired),
    rotation: structuredClone(state.rotation),
    lastRotatedAt: state.lastRotatedAt,
    pendingEvents: structuredClone(state.pendingEvents),
  };
}

/** The sidecar form of an entry: no values, a keyed check of each. */
export function toSidecarState(checkKey: string, entry: StoredEntry): SidecarState {
  return {
    versions: entry.versions.map((v) => ({ id: v.id, stages: [...v.stages], createdAt: v.createdAt, check: valueCheck(checkKey, Buffer.from(v.value, 'base64')) })),
    retired: entry.retired,
    rotation: entry.rotation,
    lastRotatedAt: entry.lastRotatedAt,
    pendingEvents: entry.pendingEvents,
  };
}

/** Sets, adds or removes `KEY`, `KEY_PENDING`, `KEY_PREVIOUS`; returns whether a line changed. */
export function writeEntryLines(env: EnvFile, key: string, before: StoredEntry | null, after: StoredEntry, quote: (stage: Stage, base64: string) => string): boolean {
  let changed = false;
  let anchor: string | null = null;
  for (const stage of STAGES) {
    const name = key + SUFFIX[stage];
    const version = after.versions.find((v) => v.stages.includes(stage));
    const had = before?.versions.find((v) => v.stages.includes(stage));
    if (version) {
      if (had?.value !== version.value || !env.names.has(name)) {
        setValue(env, name, quote(stage, version.value), anchor);
        changed = true;
      }
      anchor = name;
    } else if (had && env.names.has(name)) {
      // Only a line keyshift wrote is removed; a stray one nobody recorded is left as it is.
      removeValue(env, name);
      changed = true;
    }
  }
  return changed;
}
