import type { Target } from './context.js';

/**
 * Which secrets may run many at once, whatever `--concurrency` says, and how many. `--concurrency`
 * protects what lies outside keyshift (hooks, webhooks, generator commands, a lock table, remote
 * APIs); a secret whose every environment touches none of that only changes files on this machine,
 * and nothing outside sees the secrets one by one. Its stores put every change ready while they
 * write into the next write, so the wider the batch the fewer writes and fsyncs:
 * - a local store (capabilities.groupCommit) appends a record per change and fsyncs per batch:
 *   GROUP_COMMIT_WIDTH secrets in flight carry about a hundred records per fsync while the run's
 *   memory stays small; where its writes can be queued (queuesWrites), the secrets go one after
 *   another instead and the store batches what they queued (queued-writes.ts);
 * - a dotenv or k8s-secret file (capabilities.batchedWrites) is rewritten whole per write: with only
 *   `--concurrency` secrets in flight, 10,000 secrets in one file cost 10,000 ÷ 4 rewrites of a
 *   growing file, so they all go at once.
 */
export function batchWidth(targets: Target[]): number | null {
  if (!targets.every(waitsOnNothingOutside)) return null;
  if (targets.every(({ store }) => store.capabilities?.batchedWrites === true)) return BATCHED_WIDTH;
  if (targets.every(({ store }) => store.capabilities?.batchedWrites === true || store.capabilities?.groupCommit === true)) return GROUP_COMMIT_WIDTH;
  return null;
}

/**
 * Whether a secret's writes may be queued (queued-writes.ts): it has one environment (a later one
 * would build on the earlier one's writes, and wait for them), which waits on nothing outside, on
 * a store that queues writes, and no step reads another entry that a queued write may not have made
 * durable yet (a master key's decommission gate reads its data keys; `reencrypt:` counts rows).
 * `hierarchy`: the run has data-key secrets.
 */
export function queuesWrites(targets: Target[], hierarchy: boolean): boolean {
  const [target] = targets;
  return !hierarchy && targets.length === 1 && target !== undefined && waitsOnNothingOutside(target) && typeof target.store.queueApply === 'function' && !target.policy.reencrypt;
}

function waitsOnNothingOutside({ policy, environment }: Target): boolean {
  return (
    environment.deploy.length === 0 &&
    environment.verify.length === 0 &&
    !environment.store.lock &&
    policy.revoke.length === 0 &&
    policy.decommissionCheck.length === 0 &&
    policy.notify.length === 0 &&
    policy.generator?.type !== 'command'
  );
}

const GROUP_COMMIT_WIDTH = 128;
const BATCHED_WIDTH = 10_000;
