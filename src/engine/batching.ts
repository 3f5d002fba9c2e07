import type { Target } from './context.js';

/**
 * Which secrets may run all at once, whatever `--concurrency` says. A store that rewrites a whole
 * file per write (capabilities.batchedWrites) puts every change staged while it writes into the next
 * write, so its cost is one rewrite per batch; with only `--concurrency` secrets in flight a batch
 * holds at most that many, and 10,000 secrets in one file cost 10,000 ÷ 4 rewrites of a growing
 * file. `--concurrency` protects what lies outside keyshift (hooks, webhooks, generator commands,
 * a lock table, remote APIs); a secret whose every environment touches none of that only changes
 * a file on this machine, and nothing outside it sees the secrets one by one.
 */
export function writesOnlyToBatchingStores(targets: Target[]): boolean {
  return targets.every(
    ({ policy, environment, store }) =>
      store.capabilities?.batchedWrites === true &&
      environment.deploy.length === 0 &&
      environment.verify.length === 0 &&
      !environment.store.lock &&
      policy.revoke.length === 0 &&
      policy.decommissionCheck.length === 0 &&
      policy.notify.length === 0 &&
      policy.generator?.type !== 'command',
  );
}

/** In flight at once for those secrets: enough for one batch to hold a large run's changes. */
export const BATCHED_CONCURRENCY = 10_000;
