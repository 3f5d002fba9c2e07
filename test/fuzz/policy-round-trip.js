// Valid policies that a run can actually execute (local stores, random generators, no hooks and
// no webhooks: nothing that runs a program or calls the network), with durations up to and past
// the largest the schema accepts, for a rotate → status → plan round trip.
import fc from 'fast-check';
import { emit } from './policy-arbitraries.js';

const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Ordinary durations, ones at the longest accepted (36500d, 100 years), and longer ones up to the
 * largest safe integer of milliseconds (~285,000 years), which validation must reject.
 */
const duration = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.constantFrom('s', 'm', 'h', 'd', 'w'), fc.integer({ min: 1, max: 500 })) },
  { weight: 4, arbitrary: fc.constantFrom(['d', 36_500], ['w', 5_214], ['h', 876_000], ['m', 52_560_000]) },
  { weight: 1, arbitrary: fc.constantFrom(['d', 36_501], ['w', 14_800_000], ['d', 100_000_000]) },
  { weight: 1, arbitrary: fc.constantFrom('h', 'd', 'w').chain((unit) => fc.tuple(fc.constant(unit), fc.integer({ min: 1, max: Math.floor(Number.MAX_SAFE_INTEGER / UNITS[unit]) }))) },
).map(([unit, n]) => ({ ms: n * UNITS[unit], text: `${n}${unit}` }));

export const extremeDurationPolicy = fc
  .array(
    fc.record({
      durations: fc.tuple(duration, duration),
      observe: fc.option(duration, { nil: undefined }),
      environments: fc.integer({ min: 1, max: 2 }),
      bytes: fc.integer({ min: 16, max: 64 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((items) => {
    const secrets = items.map(({ durations: [a, b], observe, environments, bytes }, i) => {
      const [long, short] = a.ms >= b.ms ? [a, b] : [b, a];
      return {
        name: `s${i}`,
        interval: long.text,
        fallbackWindow: short.text,
        generator: { type: 'random', bytes },
        environments: Array.from({ length: environments }, (_, e) => ({
          name: `e${e}`,
          store: { type: 'local', path: `.keyshift/e${e}.store` },
          ...(observe && e === 0 ? { observe: observe.text } : {}),
        })),
      };
    });
    return { files: { 'policies/p.yaml': emit({ secrets }) } };
  });
