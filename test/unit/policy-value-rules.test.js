// `validate:` on a secret (schema-validate.ts): each rule's own message, and a rule the random
// generator can never meet (too many characters, too many bits) is a policy error at load time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../helpers/policy-fixture.js';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';

/** One secret with `generator` (line 5) and `validate` (line 6). */
const secret = (generator, validate) =>
  `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: ${generator}\n    validate: ${validate}\n    environments: [{ name: dev, store: { type: local, path: s } }]\n`;

async function problems(generator, validate) {
  const { errors } = await load(secret(generator, validate));
  return errors.map((e) => `${e.line}:${e.col} ${e.message}`);
}


test('minLength against the length each encoding makes: base64, base64url, hex, a password', async () => {
  const cases = [
    // [generator, the longest minLength it meets]
    ['{ type: random, bytes: 32 }', 44],
    ['{ type: random, bytes: 32, encoding: base64 }', 44],
    ['{ type: random, bytes: 31 }', 44],
    ['{ type: random, bytes: 16, encoding: base64url }', 22],
    ['{ type: random, bytes: 16, encoding: hex }', 32],
    ['{ type: random, length: 20 }', 20],
  ];
  for (const [generator, longest] of cases) {
    assert.deepEqual(await problems(generator, `{ minLength: ${longest} }`), [], generator);
    assert.deepEqual(await problems(generator, `{ minLength: ${longest + 1} }`), [
      `6:28 secrets[0].validate.minLength: is ${longest + 1} but the generator makes ${longest} characters; lower it or make the generator longer`,
    ], generator);
  }
});

test('minEntropyBits against the bits a generator makes: bytes × 8, length × log2(distinct characters)', async () => {
  const cases = [
    ['{ type: random, bytes: 16 }', 128, 128],
    ['{ type: random, length: 10, charset: hex }', 40, 40],
    ['{ type: random, length: 10, chars: "aab" }', 10, 10],
    ['{ type: random, length: 10, chars: "abc" }', 15, 15.84],
    ['{ type: random, length: 8 }', 47, 47.63],
  ];
  for (const [generator, floor, bits] of cases) {
    assert.deepEqual(await problems(generator, `{ minEntropyBits: ${Math.floor(bits)} }`), [], generator);
    const above = Math.floor(bits) + 1;
    assert.deepEqual(await problems(generator, `{ minEntropyBits: ${above} }`), [
      `6:33 secrets[0].validate.minEntropyBits: is ${above} but the generator makes values of at most ${floor} bits; lower it or make the generator longer`,
    ], generator);
  }
});

test('both rules too high are two problems; a command generator is not checked (its output is unknown)', async () => {
  assert.deepEqual(await problems('{ type: random, bytes: 16 }', '{ minLength: 100, minEntropyBits: 500 }'), [
    '6:28 secrets[0].validate.minLength: is 100 but the generator makes 24 characters; lower it or make the generator longer',
    '6:49 secrets[0].validate.minEntropyBits: is 500 but the generator makes values of at most 128 bits; lower it or make the generator longer',
  ]);
  assert.deepEqual(await problems('{ type: command, run: [./issue.sh] }', '{ minLength: 4000, minEntropyBits: 8000 }'), []);
});

test('each rule refuses a wrong value with its own message', async () => {
  const gen = '{ type: random, bytes: 32 }';
  const cases = [
    ['{ minLength: 0 }', '6:28 secrets[0].validate.minLength: must be a whole number from 1 to 65536'],
    ['{ minEntropyBits: 0 }', '6:33 secrets[0].validate.minEntropyBits: must be a whole number from 1 to 8192'],
    ['{ forbidRepeats: 1 }', '6:32 secrets[0].validate.forbidRepeats: must be a whole number from 2 to 64'],
    ['{ forbidRepeats: 65 }', '6:32 secrets[0].validate.forbidRepeats: must be a whole number from 2 to 64'],
    ['{ forbidPrevious: "yes" }', '6:33 secrets[0].validate.forbidPrevious: must be true or false (got a string)'],
    ['{ pattern: "" }', '6:26 secrets[0].validate.pattern: must not be empty; e.g. pattern: "[A-Za-z0-9_-]+"'],
    ['{ pattern: 5 }', '6:26 secrets[0].validate.pattern: must be a regular expression in quotes, e.g. pattern: "[A-Za-z0-9_-]+" (got a number)'],
    ['{ pattern: "(ab" }', '6:26 secrets[0].validate.pattern: is not a valid regular expression (Unterminated group); e.g. pattern: "[A-Za-z0-9_-]+"'],
    // Valid without the u flag, not with it: the pattern is compiled as the check will run it.
    ['{ pattern: "a{" }', '6:26 secrets[0].validate.pattern: is not a valid regular expression (Incomplete quantifier); e.g. pattern: "[A-Za-z0-9_-]+"'],
    ['{ minLenght: 3 }', '6:17 secrets[0].validate: unknown key "minLenght"; allowed keys: minLength, minEntropyBits, pattern, forbidPrevious, forbidRepeats'],
  ];
  for (const [validate, expected] of cases) assert.deepEqual(await problems(gen, validate), [expected], validate);
  // Above the maximum is both out of range and more than the generator makes.
  assert.deepEqual(await problems(gen, '{ minLength: 65537 }'), [
    '6:28 secrets[0].validate.minLength: must be a whole number from 1 to 65536',
    '6:28 secrets[0].validate.minLength: is 65537 but the generator makes 44 characters; lower it or make the generator longer',
  ]);
  assert.deepEqual(await problems(gen, '{ pattern: "[A-Za-z0-9+/=]+", forbidRepeats: 2, forbidPrevious: false }'), []);
});

test('rules beside a random generator with neither bytes nor length: only the generator\'s own error, no crash', async () => {
  assert.deepEqual(await problems('{ type: random }', '{ minLength: 5, minEntropyBits: 64 }'), [
    '5:16 secrets[0].generator: a random generator needs bytes (e.g. bytes: 32) or length (e.g. length: 32)',
  ]);
});

test('the JSON Schema `keyshift schema` prints describes validate: and each rule for editors, word for word', () => {
  const validate = policyJsonSchema().properties.secrets.items.properties.validate;
  const descriptions = Object.fromEntries(Object.entries(validate.properties).map(([key, rule]) => [key, rule.description]));
  assert.equal(validate.description, 'Checks every new value must pass before it is stored (default none).');
  assert.deepEqual(descriptions, {
    minLength: 'The value has at least this many characters.',
    minEntropyBits: "The value's estimated entropy (length × Shannon entropy per character) is at least this many bits.",
    pattern: 'A JavaScript regular expression (u flag) the whole value must match; keyshift anchors it.',
    forbidPrevious: 'The value differs from every value the store still holds for this secret (CURRENT, PREVIOUS, PENDING).',
    forbidRepeats: 'No character appears this many times in a row (e.g. 4 rejects "aaaa").',
  });
});
