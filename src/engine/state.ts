import type { EntryState, EvidenceDraft, RotationRecord, StoreMeta, VersionInfo } from '../stores/contract.js';
import { isUnconfirmed, versionWithStage } from '../stores/contract.js';
import type { SecretPolicy } from '../policy/types.js';

export type Phase = 'idle' | 'overlap' | 'fallback' | 'failed';

/** The phase a user sees, derived only from what the store holds. */
export function phaseOf(state: EntryState | null): Phase {
  const rotation = state?.rotation;
  if (!rotation) return 'idle';
  return rotation.phase;
}

export function currentVersion(state: EntryState | null): VersionInfo | undefined {
  return state ? versionWithStage(state, 'CURRENT') : undefined;
}

export function previousVersion(state: EntryState | null): VersionInfo | undefined {
  return state ? versionWithStage(state, 'PREVIOUS') : undefined;
}

export function pendingVersion(state: EntryState | null): VersionInfo | undefined {
  return state ? versionWithStage(state, 'PENDING') : undefined;
}

/** When the current version was put in place: the last switch or provision. */
export function lastRotatedAt(state: EntryState | null): Date | null {
  if (!state) return null;
  const at = state.lastRotatedAt ?? currentVersion(state)?.createdAt;
  return at ? new Date(at) : null;
}

export function nextDueAt(policy: SecretPolicy, state: EntryState | null): Date | null {
  const last = lastRotatedAt(state);
  return last ? new Date(last.getTime() + policy.intervalMs) : null;
}

/**
 * The evidence event a previous run announced in the store but may not have appended (it died in
 * between). Drafts of runs that finished cleanly are listed in the store's confirmedRuns.
 */
export function unconfirmedDrafts(state: EntryState | null, meta: StoreMeta): EvidenceDraft[] {
  return (state?.pendingEvents ?? []).filter((draft) => isUnconfirmed(draft, meta.confirmedRuns));
}

/** The end of an environment's bake time (`observe`) after its last switch, while still ahead of `now`. */
export function observeEndsAt(environment: { observeMs: number }, state: EntryState | null, now: Date): Date | null {
  const switchedAt = state?.rotation?.switchedAt;
  if (!switchedAt || environment.observeMs === 0) return null;
  const until = new Date(Date.parse(switchedAt) + environment.observeMs);
  return until > now ? until : null;
}

/** When the old version of a switched rotation may be retired: switch time + the policy's window
 * (or the window chosen for that rotation). Editing the policy's window takes effect at once. */
export function decommissionAt(policy: SecretPolicy, rotation: RotationRecord): Date | null {
  if (!rotation.switchedAt) return null;
  const windowMs = rotation.fallbackWindowOverrideMs ?? policy.fallbackWindowMs;
  return new Date(Date.parse(rotation.switchedAt) + windowMs);
}
