// The least wall time a run can take under the service's request quotas, and the check that a run
// made no more calls than a rotation needs. Used by bench/aws-secrets-manager.js and bench/aws-kms.js.

/**
 * Each quota class is a token bucket that starts full (`burst` calls at once) and refills at `rate`
 * calls per second; classes refill independently, so the floor is the slowest class:
 * max over classes of (calls − burst) / rate.
 * @param {Record<string, number>} calls  quota class -> calls the run needs
 * @param {Record<string, {rate: number|null, burst: number}>} buckets  quota class -> its bucket
 * @returns {{seconds: number, binding: string[], classes: Array<{name, calls, rate, burst, seconds}>}}
 *   `binding`: the classes that set the floor (several when they tie)
 */
export function quotaFloor(calls, buckets) {
  const classes = Object.entries(calls).map(([name, count]) => {
    const bucket = buckets[name];
    if (!bucket) throw new Error(`no quota bucket for class ${name}`);
    const seconds = bucket.rate ? Math.max(0, count - bucket.burst) / bucket.rate : 0;
    return { name, calls: count, rate: bucket.rate, burst: bucket.burst, seconds };
  });
  const seconds = Math.max(0, ...classes.map((c) => c.seconds));
  const binding = seconds > 0 ? classes.filter((c) => c.seconds === seconds).map((c) => c.name) : [];
  return { seconds, binding, classes };
}

/** Calls per quota class for `count` rotations that each need `perRotation`. */
export function callsFor(count, perRotation) {
  return Object.fromEntries(Object.entries(perRotation).map(([name, n]) => [name, n * count]));
}

/**
 * The classes of `perRotation` where the run (a fake's stats(): class -> {served}) made a different
 * number of calls than `count` rotations need: each `{name, expected, made}`. Empty when they match.
 */
export function callMismatches(stats, count, perRotation) {
  return Object.entries(callsFor(count, perRotation))
    .map(([name, expected]) => ({ name, expected, made: stats[name]?.served ?? 0 }))
    .filter((c) => c.made !== c.expected);
}

/**
 * The time the other classes a run used (a fake's stats() minus `perRotation`'s, e.g. reads) take at
 * the counts the run made: the floor holds only if this is below it.
 */
export function otherClassesBound(stats, perRotation) {
  const calls = Object.fromEntries(Object.entries(stats).filter(([name, s]) => !(name in perRotation) && s.served > 0).map(([name, s]) => [name, s.served]));
  return quotaFloor(calls, stats);
}

/** "TagResource: 300 calls, 5/s after a burst of 5 → 59.0 s", for a results table. */
export function describeClass(c) {
  return `${c.name}: ${c.calls} calls, ${c.rate}/s after a burst of ${c.burst} → ${c.seconds.toFixed(1)} s`;
}
