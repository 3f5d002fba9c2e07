/**
 * Interval adherence, from the evidence: every time the value changed (provisioned, then each
 * switch) and the time now. Each gap between two changes, and the open gap from the last change to
 * now, must not exceed the policy's interval; `lateBy` is the largest excess. Only gaps that end
 * inside the report's window count (the change before the window is where the first one starts).
 * Lateness counts in whole days, as an auditor counts a rotation interval: a rotation less than 24
 * hours after it fell due (the next run of a daily schedule) is on time. A secret with no change in
 * its evidence was never rotated by keyshift: `never`.
 * docs/compliance.md states the same definition for auditors.
 */

export const GRACE_MS = 86_400_000;

export type Adherence = 'on-time' | 'late' | 'never';

export function intervalAdherence(changes: number[], intervalMs: number, now: number, since: number | null): { adherence: Adherence; lateByMs: number | null } {
  if (changes.length === 0) return { adherence: 'never', lateByMs: null };
  const times = [...changes].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0; i < times.length; i++) {
    const start = times[i] as number;
    const end = i + 1 < times.length ? (times[i + 1] as number) : now;
    if (since !== null && end < since) continue;
    worst = Math.max(worst, end - start - intervalMs);
  }
  return worst >= GRACE_MS ? { adherence: 'late', lateByMs: worst } : { adherence: 'on-time', lateByMs: null };
}
