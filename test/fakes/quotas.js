// Request quotas as AWS applies them: one token bucket per API class, holding one second of burst
// (capacity = rate) and refilling continuously at `rate` tokens per second.
import { performance } from 'node:perf_hooks';

/**
 * @param {Record<string, string>} classOf   op -> class; ops without a class are never throttled
 * @param {Record<string, number>} defaults  class -> rate
 * @param {Record<string, number|false|null>|false} [overrides]
 */
export function createQuotas(classOf, defaults, overrides) {
  const buckets = new Map();
  for (const [name, rate] of Object.entries(defaults)) buckets.set(name, bucket(rate));
  const counts = new Map([...buckets.keys()].map((name) => [name, { served: 0, throttled: 0 }]));

  function set(next) {
    if (next === false || next === null) {
      for (const name of buckets.keys()) buckets.set(name, bucket(null));
      return;
    }
    for (const [name, rate] of Object.entries(next ?? {})) {
      if (!buckets.has(name)) throw new Error(`unknown quota class "${name}"; known: ${[...buckets.keys()].join(', ')}`);
      buckets.set(name, bucket(rate));
    }
  }
  set(overrides);

  return {
    set,
    /** Takes a token for op; false when its class is out of tokens (the call is throttled). */
    take(op) {
      const name = classOf[op];
      if (!name) return true;
      const ok = buckets.get(name).take();
      counts.get(name)[ok ? 'served' : 'throttled'] += 1;
      return ok;
    },
    stats() {
      const out = {};
      for (const [name, count] of counts) out[name] = { rate: buckets.get(name).rate, burst: buckets.get(name).burst, ...count };
      return out;
    },
  };
}

function bucket(rate) {
  if (rate === false || rate === null || rate === undefined || rate === Infinity) {
    return { rate: null, burst: null, take: () => true };
  }
  if (!(typeof rate === 'number' && rate > 0)) throw new Error(`quota rate must be a positive number, false or null, got ${rate}`);
  const capacity = Math.max(rate, 1); // a rate below 1/s still lets one call through
  let tokens = capacity;
  let last = performance.now();
  return {
    rate,
    burst: capacity,
    take() {
      const now = performance.now();
      tokens = Math.min(capacity, tokens + ((now - last) / 1000) * rate);
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
