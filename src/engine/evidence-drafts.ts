import type { SecretValue } from '../secret-value.js';
import type { EntryState, EvidenceDraft, EvidenceEvent } from '../stores/contract.js';
import type { Target } from './context.js';
import type { HookCheck } from './overlap-hooks.js';
import type { RunInfo } from './steps.js';
import { isoTime } from '../util/iso-time.js';

/** The evidence event a step announces: written to the store with the step, appended after it. */
export function evidenceDraft(
  target: Target,
  run: RunInfo,
  event: EvidenceEvent,
  detail: { rotationId: string | null; fromVersion: string | null; toVersion: string | null; value: SecretValue | null; checks?: HookCheck[] },
): EvidenceDraft {
  // Optional fields are set after the literal, in the same order as before (a spread inside it is
  // slow on Node 20: bench/issue-17.md).
  const draft: EvidenceDraft = {
    event,
    rotationId: detail.rotationId,
    secret: target.policy.name,
    environment: target.environment.name,
    store: target.store.kind,
    fromVersion: detail.fromVersion,
    toVersion: detail.toVersion,
    fingerprint: detail.value ? fingerprintOf(target, detail.value) : null,
    at: isoTime(run.now()),
    operator: run.operator,
    reason: run.reason,
    ticket: run.ticket,
    emergency: run.emergency,
    checks: detail.checks ?? [],
    runId: run.runId,
  };
  if (run.resumedBy) draft.resumedBy = run.resumedBy;
  if (target.store.identity) draft.storeId = target.store.identity();
  draft.storeLocation = target.store.location;
  return draft;
}

/**
 * A value's keyed fingerprint in the target's store, made once: a rotation's `issued` and
 * `switched` records name the same new value (an HMAC each, 10,000 of them in a 10,000-secret run).
 * Weak: a value held only here is gone with its rotation.
 */
const fingerprints = new WeakMap<SecretValue, { store: Target['store']; fingerprint: string }>();

function fingerprintOf(target: Target, value: SecretValue): string {
  const known = fingerprints.get(value);
  if (known?.store === target.store) return known.fingerprint;
  const fingerprint = target.store.fingerprint(value);
  fingerprints.set(value, { store: target.store, fingerprint });
  return fingerprint;
}

/**
 * The drafts a write announces: this run's earlier ones stay until the run confirms them all at its
 * end (StoreMeta.confirmedRuns), so evidence lines may be appended in the background.
 */
export function announceDrafts(state: EntryState, run: RunInfo, drafts: EvidenceDraft[]): EvidenceDraft[] {
  return [...state.pendingEvents.filter((d) => d.runId === run.runId), ...drafts];
}
