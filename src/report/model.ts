import type { SecretPolicy } from '../policy/types.js';
import { intervalAdherence, type Adherence } from './adherence.js';
import { targetKey, type EvidenceHistory, type RotationEvents } from './history.js';

/** What `status` says of one secret in one environment (src/engine/inspect.ts StatusRow). */
export interface StatusFacts {
  secret: string;
  environment: string;
  phase: string;
  lastRotatedAt: string | null;
  nextDueAt: string | null;
  overdue: boolean;
  rotationId: string | null;
  decommissionAfter: string | null;
}

export interface TimelineEvent {
  at: number;
  kind: 'provisioned' | 'issued' | 'switched' | 'decommissioned' | 'failed' | 'rolled-back';
  emergency: boolean;
  rotationId: string | null;
}

export interface ReportRow {
  secret: string;
  environment: string;
  owner: string | null;
  controls: string[];
  lastRotatedAt: string | null;
  nextDueAt: string | null;
  overdue: boolean;
  dueSoon: boolean;
  adherence: Adherence;
  /** Seconds by which the worst gap exceeded the interval; null when on time or never rotated. */
  lateBy: number | null;
  rotations: number;
  emergencyRotations: number;
  failedRotations: number;
  evidenceComplete: boolean;
  /** Why evidenceComplete is false for this row (one phrase each). */
  evidenceGaps: string[];
  phase: string;
  decommissionAfter: string | null;
  interval: string;
  timeline: TimelineEvent[];
}

export interface Report {
  generatedAt: string;
  since: string | null;
  secrets: ReportRow[];
  evidenceVerified: boolean;
  /** Where the chain broke, or damaged lines, for people: `evidence.jsonl:LINE: problem`. */
  evidenceProblems: string[];
  score: number;
}

export const DUE_SOON_MS = 14 * 86_400_000;
const TIMELINE_EVENTS = ['issued', 'switched', 'decommissioned', 'failed', 'rolled-back', 'provisioned'] as const;

export function buildReport(input: {
  policies: SecretPolicy[];
  status: StatusFacts[];
  history: EvidenceHistory;
  chainProblem: string | null;
  now: Date;
  since: Date | null;
}): Report {
  const { history, now } = input;
  const nowMs = now.getTime();
  const since = input.since?.getTime() ?? null;
  const inWindow = (at: number | undefined) => at !== undefined && (since === null || at >= since) && at <= nowMs;
  const evidenceProblems = [
    ...history.damaged.map((d) => (d.line > 0 ? `${history.file}:${d.line}: ${d.problem}` : `${history.file}: ${d.problem}`)),
    ...(input.chainProblem ? [input.chainProblem] : []),
  ];
  const evidenceVerified = evidenceProblems.length === 0;
  const byName = new Map(input.policies.map((p) => [p.name, p]));

  const secrets = input.status.flatMap((s): ReportRow[] => {
    const policy = byName.get(s.secret);
    if (!policy) return [];
    const target = history.targets.get(targetKey(s.secret, s.environment));
    const rotations = [...(target?.rotations.values() ?? [])];
    const { adherence, lateByMs } = intervalAdherence((target?.changes ?? []).map((c) => c.at), policy.intervalMs, nowMs, since);
    const windowed = rotations.filter((r) => inWindow(r.at.issued ?? r.at.switched ?? r.at.failed));
    const gaps = windowed.flatMap((r) => evidenceGaps(r, s));
    const unstarted = (target?.unstarted ?? []).filter((f) => inWindow(f.at));
    if (!evidenceVerified) gaps.unshift('the evidence chain does not verify');
    const due = s.nextDueAt ? Date.parse(s.nextDueAt) : null;
    return [{
      secret: s.secret,
      environment: s.environment,
      owner: policy.owner,
      controls: policy.controls ?? [],
      lastRotatedAt: s.lastRotatedAt,
      nextDueAt: s.nextDueAt,
      overdue: s.overdue,
      dueSoon: !s.overdue && due !== null && due - nowMs <= DUE_SOON_MS,
      adherence,
      lateBy: lateByMs === null ? null : Math.round(lateByMs / 1000),
      rotations: rotations.filter((r) => inWindow(r.at.switched)).length,
      emergencyRotations: windowed.filter((r) => r.emergency).length,
      failedRotations: windowed.filter((r) => r.failed).length + unstarted.length,
      evidenceComplete: gaps.length === 0,
      evidenceGaps: gaps,
      phase: s.phase,
      decommissionAfter: s.decommissionAfter,
      interval: policy.interval,
      timeline: [...timeline(rotations, inWindow), ...unstarted.map((f) => ({ at: f.at, kind: 'failed' as const, emergency: f.emergency, rotationId: null }))].sort((a, b) => a.at - b.at),
    }];
  });
  const good = secrets.filter((r) => r.adherence === 'on-time' && r.evidenceComplete).length;
  return {
    generatedAt: now.toISOString(),
    since: input.since?.toISOString() ?? null,
    secrets,
    evidenceVerified,
    evidenceProblems,
    score: secrets.length === 0 ? 100 : Math.round((1000 * good) / secrets.length) / 10,
  };
}

/** The rotations' events inside the window, oldest first (plain loops: ~100,000 events for a big log). */
function timeline(rotations: RotationEvents[], inWindow: (at: number | undefined) => boolean): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (const r of rotations) {
    for (const kind of TIMELINE_EVENTS) {
      const at = r.at[kind];
      if (at !== undefined && inWindow(at)) events.push({ at, kind, emergency: r.emergency, rotationId: r.rotationId });
    }
  }
  return events.sort((a, b) => a.at - b.at);
}

/**
 * The records a rotation must have: issued, switched and decommissioned once it is over; the one
 * still in flight (or in its fallback window) only those of the steps it has reached. A rotation
 * rolled back needs its issued record. `provisioned` alone is complete.
 */
function evidenceGaps(r: RotationEvents, s: StatusFacts): string[] {
  const has = (event: string) => r.at[event] !== undefined;
  if (has('provisioned') && !has('issued') && !has('switched')) return [];
  let needed: string[];
  if (has('rolled-back')) needed = ['issued'];
  else if (r.rotationId === s.rotationId) needed = s.phase === 'fallback' ? ['issued', 'switched'] : ['issued'];
  else needed = ['issued', 'switched', 'decommissioned'];
  return needed.filter((event) => !has(event)).map((event) => `${r.rotationId} has no ${event} record`);
}
