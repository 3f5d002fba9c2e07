import { createHash } from 'node:crypto';
import { usageError } from '../errors.js';

/** One runner's part of the secrets: shard `index` of `count` (1 ≤ index ≤ count). */
export interface Shard {
  index: number;
  count: number;
}

/**
 * The shard a secret belongs to: the first 4 bytes of SHA-256 of its UTF-8 name, read as a
 * big-endian unsigned integer, mod n, plus 1. It depends on the name alone (not on policy order
 * or on the other secrets), so n runners agree without talking, and other tools can reproduce it
 * (docs/scale-out.md).
 */
export function shardOf(name: string, count: number): number {
  return (createHash('sha256').update(name, 'utf8').digest().readUInt32BE(0) % count) + 1;
}

export function inShard(name: string, shard: Shard | undefined): boolean {
  return shard === undefined || shardOf(name, shard.count) === shard.index;
}

/** `--shard k/n`. Anything else (0/3, 4/3, a/b, 1/0) is a usage error (exit 2). */
export function parseShard(text: string): Shard {
  const match = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index < 1 || index > count) {
    throw usageError(`--shard "${text}" is not k/n with 1 ≤ k ≤ n`, 'e.g. --shard 1/4 … --shard 4/4 for four runners (JOB_COMPLETION_INDEX 0 is shard 1)');
  }
  return { index, count };
}

/**
 * The default `--quota-share` of a sharded runner: its shard's part of the environments on AWS
 * stores (the ones that spend the quotas). Every runner reads the same policies, so the parts sum
 * to 1 and all runners finish together; an even 1/n left the largest shard (the hash is never quite
 * even: 264 of 1,000 secrets in one run) last, alone, at a quarter of the quota. 1/n when no
 * secret is on an AWS store.
 */
export function shardQuotaShare(policies: Array<{ name: string; environments: Array<{ store: { type: string } }> }>, shard: Shard): number {
  const weight = (p: (typeof policies)[number]) => p.environments.filter((e) => e.store.type.startsWith('aws-')).length;
  const total = policies.reduce((sum, p) => sum + weight(p), 0);
  const mine = policies.filter((p) => inShard(p.name, shard)).reduce((sum, p) => sum + weight(p), 0);
  return total === 0 || mine === 0 ? 1 / shard.count : mine / total;
}

/** `--quota-share`: the part of each AWS quota bucket this runner takes; with --shard and no
 * --quota-share, undefined here: the runner takes its shard's part (shardQuotaShare). */
export function parseQuotaShare(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const share = Number(text);
  if (text.trim() === '' || !Number.isFinite(share) || share <= 0 || share > 1) {
    throw usageError(`--quota-share "${text}" must be a number above 0 and at most 1`, 'e.g. --quota-share 0.25 for one runner of four sharing the account\'s quotas');
  }
  return share;
}
