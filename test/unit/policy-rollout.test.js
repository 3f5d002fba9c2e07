import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';
import { FILE, load, policy } from '../helpers/policy-fixture.js';

test('observe, requireTicket, sharedValue and notify are normalised', async () => {
  const { errors, policies } = await load(
    policy(
      ['observe: 30m', 'requireTicket: true'],
      [
        'sharedValue: true',
        'notify:',
        '  - webhook: https://hooks.example.com/keyshift?token=abc',
        '  - webhook: http://127.0.0.1:9000/x',
        '    on: [provisioned, verified, verified, failed]',
      ],
    ),
  );
  assert.deepEqual(errors, []);
  const [secret] = policies;
  assert.deepEqual(
    secret.environments.map(({ name, observeMs, requireTicket }) => ({ name, observeMs, requireTicket })),
    [
      { name: 'dev', observeMs: 0, requireTicket: false },
      { name: 'prod', observeMs: 1_800_000, requireTicket: true },
    ],
  );
  assert.equal(secret.sharedValue, true);
  assert.deepEqual(secret.notify, [
    { webhook: 'https://hooks.example.com/keyshift?token=abc', on: ['failed', 'switched', 'decommissioned', 'rolled-back'] },
    { webhook: 'http://127.0.0.1:9000/x', on: ['provisioned', 'verified', 'failed'] },
  ]);
});

test('the defaults: no bake time, no ticket, one value per environment, no webhooks', async () => {
  const { errors, policies } = await load(policy(['observe: 2h', 'requireTicket: false'], ['sharedValue: false', 'notify: []']));
  assert.deepEqual(errors, []);
  assert.equal(policies[0].environments[1].observeMs, 7_200_000);
  const plain = await load(policy());
  assert.deepEqual(plain.errors, []);
  const [secret] = plain.policies;
  assert.equal(secret.sharedValue, false);
  assert.deepEqual(secret.notify, []);
  for (const environment of secret.environments) assert.deepEqual([environment.observeMs, environment.requireTicket], [0, false]);
});

const E = 'secrets[0].environments[1]';
const N = 'secrets[0].notify[0]';
const EVENTS = 'failed, switched, decommissioned, rolled-back, provisioned, issued, deployed, verified';
// Each case: prod lines (from line 10), secret lines (after prod's store, line 11 on when no prod lines),
// and every expected error as [line, col, fragment].
const badCases = [
  ['bad observe duration', ['observe: 30x'], [], [[10, 18, `${E}.observe: "30x" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 30m)`]]],
  ['zero observe', ['observe: 0m'], [], [[10, 18, `${E}.observe: "0m" is zero`]]],
  ['observe without a unit', ['observe: 30'], [], [[10, 18, `${E}.observe: expected a string, got a number`]]],
  ['requireTicket not a boolean', ['requireTicket: "yes"'], [], [[10, 24, `${E}.requireTicket: expected true or false, got a string`]]],
  ['misspelt observe', ['observ: 30m'], [], [
    [10, 9, `${E}: unknown key "observ"; allowed keys: name, store, deploy, verify, observe, requireTicket`],
  ]],
  ['sharedValue not a boolean', [], ['sharedValue: "true"'], [[11, 18, 'secrets[0].sharedValue: expected true or false, got a string']]],
  ['notify not a list', [], ['notify: https://hooks.example.com/k'], [[11, 13, 'secrets[0].notify: must be a list of webhooks, e.g. - webhook: https://hooks.example.com/keyshift (got a string)']]],
  ['webhook not http', [], ['notify:', '  - webhook: ftp://hooks.example.com/k'], [
    [12, 18, `${N}.webhook: must be an absolute http:// or https:// URL, e.g. webhook: https://hooks.example.com/keyshift`],
  ]],
  ['webhook not a url', [], ['notify:', '  - webhook: hooks.example.com/k'], [[12, 18, `${N}.webhook: must be an absolute http:// or https:// URL`]]],
  ['missing webhook', [], ['notify:', '  - on: [failed]'], [[12, 9, `${N}.webhook: missing; a notify target needs a webhook, e.g. webhook:`]]],
  ['empty on', [], ['notify:', '  - webhook: https://hooks.example.com/k', '    on: []'], [
    [13, 13, `${N}.on: is empty; list at least one event (${EVENTS}) or leave on out for the default`],
  ]],
  ['unknown event', [], ['notify:', '  - webhook: https://hooks.example.com/k', '    on: [failed, exploded]'], [
    [13, 22, `${N}.on[1]: must be one of ${EVENTS}`],
  ]],
  ['on not a list', [], ['notify:', '  - webhook: https://hooks.example.com/k', '    on: failed'], [[13, 13, `${N}.on: must be a list of events, e.g. on: [failed, switched] (got a string)`]]],
  ['unknown key in a notify target', [], ['notify:', '  - webhook: https://hooks.example.com/k', '    channel: ops'], [
    [13, 9, `${N}: unknown key "channel"; allowed keys: webhook, on`],
  ]],
];

for (const [title, prodLines, secretLines, expected] of badCases) {
  test(`bad rollout field: ${title}`, async () => {
    const { errors, policies } = await load(policy(prodLines, secretLines));
    const actual = errors.map((e) => [e.file, e.line, e.col, e.message]);
    assert.equal(actual.length, expected.length, `errors: ${JSON.stringify(actual, null, 1)}`);
    expected.forEach(([line, col, fragment], index) => {
      const [file, gotLine, gotCol, message] = actual[index];
      assert.deepEqual([file, gotLine, gotCol], [FILE, line, col], message);
      assert.ok(message.includes(fragment), `"${message}" should contain "${fragment}"`);
    });
    assert.deepEqual(policies, []);
  });
}

test('the JSON Schema describes the rollout fields', () => {
  const secret = policyJsonSchema().properties.secrets.items;
  const environment = secret.properties.environments.items;
  assert.equal(environment.properties.observe.type, 'string');
  assert.equal(environment.properties.observe.pattern, '^[1-9][0-9]*[smhdw]$');
  assert.equal(environment.properties.requireTicket.type, 'boolean');
  assert.equal(secret.properties.sharedValue.type, 'boolean');
  const target = secret.properties.notify.items;
  assert.equal(target.additionalProperties, false);
  assert.deepEqual(target.required, ['webhook']);
  assert.deepEqual(target.properties.on.items.enum, EVENTS.split(', '));
  assert.deepEqual(target.properties.on.default, ['failed', 'switched', 'decommissioned', 'rolled-back']);
  assert.deepEqual(secret.required, ['name', 'interval', 'fallbackWindow', 'environments']);
  assert.deepEqual(secret.else, { required: ['generator'] }, 'a generator is required, except for aws-kms keys');
  assert.deepEqual(environment.required, ['name', 'store']);
});
