import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

/**
 * A full garbage collection now, where V8 lets one be asked for (bin/keyshift.js starts `rotate`
 * with --expose-gc); nothing otherwise. For the end of a phase whose objects all die at once: the
 * start of a rotation (the policies parsed, the store replayed, the rollback check's expected
 * states) leaves tens of MB that V8 would collect only once the rotation had grown the heap past
 * them, which set a 10,000-secret run's peak memory (bench/issue-17.md, eleventh round).
 */
export function collectGarbage(): void {
  // `gc` of a new context: the main one was made before the flag was set.
  collect ??= runInNewContext('typeof gc === "function" ? gc : null') as (() => void) | null;
  collect?.();
}
