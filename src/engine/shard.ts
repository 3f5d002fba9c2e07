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

/** `--quota-share`: the part of each AWS quota bucket this runner takes; default 1/n with --shard. */
export function parseQuotaShare(text: string | undefined, shard: Shard | undefined): number | undefined {
  if (text === undefined) return shard ? 1 / shard.count : undefined;
  const share = Number(text);
  if (text.trim() === '' || !Number.isFinite(share) || share <= 0 || share > 1) {
    throw usageError(`--quota-share "${text}" must be a number above 0 and at most 1`, 'e.g. --quota-share 0.25 for one runner of four sharing the account\'s quotas');
  }
  return share;
}
