import type { ValueRules } from '../policy/schema-validate.js';
import type { SecretValue } from '../secret-value.js';

/**
 * The `validate:` rules (docs/policies.md#value-checks) applied to one value. A failure names the
 * rule and what the rule asks, never anything measured on the value (its length, its entropy, the
 * character that repeats): a rejection must not tell anyone more about the value than the policy does.
 */

export type ValueRule = 'minLength' | 'minEntropyBits' | 'pattern' | 'forbidPrevious' | 'forbidRepeats';

export interface RuleFailure {
  rule: ValueRule;
  /** What the rule asks, from the policy alone, e.g. "at least 32 characters". */
  requirement: string;
}

/**
 * Every rule the value fails, in the order of the list above. `others` are the values it must
 * differ from (forbidPrevious); they are only read when that rule is on.
 */
export function checkValue(value: SecretValue, rules: ValueRules, others: () => SecretValue[] = () => []): RuleFailure[] {
  const failures: RuleFailure[] = [];
  const text = value.reveal();
  const characters = [...text];
  if (rules.minLength !== null && characters.length < rules.minLength) {
    failures.push({ rule: 'minLength', requirement: `at least ${rules.minLength} characters` });
  }
  if (rules.minEntropyBits !== null && entropyBits(characters) < rules.minEntropyBits) {
    failures.push({ rule: 'minEntropyBits', requirement: `an estimated entropy of at least ${rules.minEntropyBits} bits` });
  }
  if (rules.pattern !== null && !new RegExp(`^(?:${rules.pattern})$`, 'u').test(text)) {
    failures.push({ rule: 'pattern', requirement: `the whole value matches ${JSON.stringify(rules.pattern)}` });
  }
  if (rules.forbidPrevious && others().some((other) => other.equals(value))) {
    failures.push({ rule: 'forbidPrevious', requirement: 'differs from every value the store still holds' });
  }
  if (rules.forbidRepeats !== null && longestRun(characters) >= rules.forbidRepeats) {
    failures.push({ rule: 'forbidRepeats', requirement: `no character ${rules.forbidRepeats} times in a row` });
  }
  return failures;
}

/**
 * The estimate minEntropyBits compares with: length × the Shannon entropy per character of the
 * value's own character frequencies. It sees repetition and small alphabets ("aaaa…" scores 0,
 * "password123password123" about 72), and scores truly random values below their real entropy
 * (32 random bytes in base64: about 190–230 bits of 256), so a rule leaves a margin (docs).
 */
export function entropyBits(characters: string[]): number {
  const counts = new Map<string, number>();
  for (const character of characters) counts.set(character, (counts.get(character) ?? 0) + 1);
  let perCharacter = 0;
  for (const count of counts.values()) {
    const p = count / characters.length;
    perCharacter -= p * Math.log2(p);
  }
  return perCharacter * characters.length;
}

/** The longest run of one character. */
function longestRun(characters: string[]): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < characters.length; i++) {
    run = i > 0 && characters[i] === characters[i - 1] ? run + 1 : 1;
    if (run > longest) longest = run;
  }
  return longest;
}
