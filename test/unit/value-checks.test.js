// The validate: rules on single values, table-driven, and the entropy estimate on known strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkValue, entropyBits } from '../../dist/generators/value-checks.js';
import { SecretValue } from '../../dist/secret-value.js';

const none = { minLength: null, minEntropyBits: null, pattern: null, forbidPrevious: false, forbidRepeats: null };
const value = (text) => SecretValue.fromString(text);
const rulesFailed = (text, rules, others = []) => checkValue(value(text), { ...none, ...rules }, () => others.map(value)).map((f) => f.rule);

test('each rule passes and fails where it should', () => {
  const cases = [
    ['abcdefgh', { minLength: 8 }, []],
    ['abcdefg', { minLength: 8 }, ['minLength']],
    ['ééééé', { minLength: 5 }, []], // characters, not bytes
    ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', { minEntropyBits: 1 }, ['minEntropyBits']],
    ['password123password123', { minEntropyBits: 80 }, ['minEntropyBits']],
    ['password123password123', { minEntropyBits: 70 }, []],
    ['abc-123', { pattern: '[a-z0-9]+' }, ['pattern']], // anchored: a match inside the value is not enough
    ['abc123', { pattern: '[a-z0-9]+' }, []],
    ['abc123', { pattern: 'a|xyz' }, ['pattern']], // the alternation stays inside the anchors
    ['same', { forbidPrevious: true }, [], ['other', 'same']],
    ['same', { forbidPrevious: true }, [], ['other']],
    ['xaaab', { forbidRepeats: 3 }, ['forbidRepeats']],
    ['xaabaa', { forbidRepeats: 3 }, []],
    ['shoort', { minLength: 10, forbidRepeats: 2, pattern: '\\d+' }, ['minLength', 'pattern', 'forbidRepeats']],
  ];
  for (const [text, rules, expected, others] of cases) {
    const want = others && others.includes(text) ? ['forbidPrevious'] : expected;
    assert.deepEqual(rulesFailed(text, rules, others ?? []), want, `${text} ${JSON.stringify(rules)}`);
  }
});

test('others are read only when forbidPrevious is on; a failure carries no measurement of the value', () => {
  let read = false;
  checkValue(value('x'), { ...none, minLength: 1 }, () => ((read = true), []));
  assert.equal(read, false);
  const [failure] = checkValue(value('tiny'), { ...none, minLength: 32 });
  assert.deepEqual(failure, { rule: 'minLength', requirement: 'at least 32 characters' });
});

test('the entropy estimate: 0 for one repeated character, below the true entropy of random values', () => {
  assert.equal(entropyBits([...'aaaa']), 0);
  assert.equal(entropyBits([...'abcd']), 8);
  for (let i = 0; i < 200; i++) {
    const bits = entropyBits([...randomBytes(32).toString('base64')]);
    assert.ok(bits > 150 && bits < 256, `${bits}`);
  }
});
