import { usageError } from '../errors.js';

/**
 * The clock the engine runs on. Real time, except under the test-only `KEYSHIFT_NOW=<ISO 8601>`:
 * then time starts at that instant and runs on at the real rate, so a script can drive real
 * rotations across two years of fake time (test/helpers/history.js) and a report over them is
 * reproducible. Never set it in production: evidence would carry the fake times.
 */
export function engineClock(env: NodeJS.ProcessEnv): () => Date {
  const fixed = env.KEYSHIFT_NOW;
  if (fixed === undefined || fixed === '') return () => new Date();
  const base = Date.parse(fixed);
  if (Number.isNaN(base) || !/^\d{4}-\d\d-\d\dT/.test(fixed)) {
    throw usageError(`KEYSHIFT_NOW "${fixed}" is not an ISO 8601 time`, 'it is a test-only clock override, e.g. KEYSHIFT_NOW=2026-01-01T00:00:00Z; unset it to use the real time');
  }
  const started = performance.now();
  return () => new Date(base + Math.floor(performance.now() - started));
}
