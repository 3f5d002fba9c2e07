import { randomInt } from 'node:crypto';
import { randomBytesFromPool } from '../util/random-pool.js';
import { SecretValue } from '../secret-value.js';
import type { RandomBytesGenerator, RandomPasswordGenerator } from '../policy/types.js';

/** Random key material from node:crypto's CSPRNG, encoded as the policy asks. */
export function generateRandomBytes(spec: RandomBytesGenerator): SecretValue {
  const bytes = randomBytesFromPool(spec.bytes);
  const text = bytes.toString(spec.encoding);
  bytes.fill(0);
  return SecretValue.fromString(text);
}

/** A password drawn uniformly from the policy's characters (randomInt has no modulo bias). */
export function generateRandomPassword(spec: RandomPasswordGenerator): SecretValue {
  const chars = [...spec.characters];
  let text = '';
  for (let i = 0; i < spec.length; i++) text += chars[randomInt(chars.length)];
  return SecretValue.fromString(text);
}
