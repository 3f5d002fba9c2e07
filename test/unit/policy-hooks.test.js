import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';
import { FILE, load, policy } from '../helpers/policy-fixture.js';

test('argv, shell-line and http hooks are normalised with defaults, resolved cwd and safe labels', async () => {
  const { cwd, errors, policies } = await load(
    policy(
      [
        'deploy:', //                                                                        10
        '  - run: [kubectl, rollout, restart, deployment/api]', //                            11
        '    env: { NAMESPACE: prod, _X1: "8080", KUBECONFIG: null }', //                    12
        '    cwd: deploy/k8s', //                                                             13
        '    timeout: 10m', //                                                                14
        '  - run: "API_TOKEN=s3cr3t-literal ./push.sh --token s3cr3t-literal"', //          15
        'verify:', //                                                                        16
        '  - run: curl -fsS https://api.example.com/healthz', //                              17
        '  - http: { url: "https://api.example.com/healthz?token=abc" }', //                  18
        '  - http:', //                                                                      19
        '      url: http://user:pw@internal:8080/ready', //                                  20
        '      method: POST', //                                                             21
        '      expectStatus: 204', //                                                        22
        '      timeout: 5s', //                                                              23
      ],
      ['revoke:', '  - run: [./bin/revoke-key, --old]', '    cwd: /opt/tools'],
    ),
  );
  assert.deepEqual(errors, []);
  const [secret] = policies;
  const at = (line, col) => ({ file: FILE, line, col });
  assert.deepEqual(secret.environments[0].deploy, []);
  assert.deepEqual(secret.environments[0].verify, []);
  const prod = secret.environments[1];
  assert.deepEqual(prod.deploy, [
    {
      kind: 'command',
      run: ['kubectl', 'rollout', 'restart', 'deployment/api'],
      timeoutMs: 600_000,
      env: { NAMESPACE: 'prod', _X1: '8080' },
      passEnv: ['KUBECONFIG'],
      cwd: join(cwd, 'deploy/k8s'),
      label: 'deploy[0] kubectl',
      source: at(11, 13),
    },
    {
      kind: 'command',
      run: 'API_TOKEN=s3cr3t-literal ./push.sh --token s3cr3t-literal',
      timeoutMs: 300_000,
      env: {},
      passEnv: [],
      cwd: null,
      label: 'deploy[1] ./push.sh',
      source: at(15, 13),
    },
  ]);
  assert.deepEqual(prod.verify, [
    {
      kind: 'command',
      run: 'curl -fsS https://api.example.com/healthz',
      timeoutMs: 300_000,
      env: {},
      passEnv: [],
      cwd: null,
      label: 'verify[0] curl',
      source: at(17, 13),
    },
    {
      kind: 'http',
      url: 'https://api.example.com/healthz?token=abc',
      method: 'GET',
      expectStatus: 200,
      timeoutMs: 30_000,
      label: 'verify[1] GET api.example.com/healthz',
      source: at(18, 13),
    },
    {
      kind: 'http',
      url: 'http://user:pw@internal:8080/ready',
      method: 'POST',
      expectStatus: 204,
      timeoutMs: 5_000,
      label: 'verify[2] POST internal:8080/ready',
      source: at(19, 13),
    },
  ]);
  assert.deepEqual(secret.revoke, [
    {
      kind: 'command',
      run: ['./bin/revoke-key', '--old'],
      timeoutMs: 300_000,
      env: {},
      passEnv: [],
      cwd: '/opt/tools',
      label: 'revoke[0] ./bin/revoke-key',
      source: at(26, 9),
    },
  ]);
  for (const hook of [...prod.deploy, ...prod.verify]) assert.ok(!hook.label.includes('s3cr3t') && !hook.label.includes('token'), hook.label);
});

test('a secret without hooks gets empty lists', async () => {
  const { errors, policies } = await load(policy());
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].revoke, []);
  for (const environment of policies[0].environments) assert.deepEqual([environment.deploy, environment.verify], [[], []]);
});

const P = 'secrets[0].environments[1]';
// Each case: hook lines under prod (from line 10) and every expected error as [line, col, fragment].
const badHooks = [
  ['empty argv', ['deploy: [{ run: [] }]'], [[10, 25, `${P}.deploy[0].run: is an empty list; give at least the program`]]],
  ['empty shell line', ['deploy:', '  - run: ""'], [[11, 18, `${P}.deploy[0].run: is empty; give a command`]]],
  ['empty argv word', ['deploy:', '  - run: [kubectl, ""]'], [[11, 28, `${P}.deploy[0].run[1]: must not be an empty string`]]],
  ['run of the wrong type', ['deploy:', '  - run: 42'], [[11, 18, `${P}.deploy[0].run: must be a list (argv, run without a shell) or a string (a shell line`]]],
  ['missing run', ['deploy:', '  - timeout: 1m'], [[11, 13, `${P}.deploy[0].run: missing; a hook needs run`]]],
  ['bad env key', ['deploy:', '  - run: [x]', '    env: { 1BAD: x }'], [
    [12, 26, `${P}.deploy[0].env.1BAD: is not a valid environment variable name`],
  ]],
  ['KEYSHIFT_ env key', ['verify:', '  - run: [x]', '    env:', '      KEYSHIFT_VALUE: y'], [
    [13, 31, `${P}.verify[0].env.KEYSHIFT_VALUE: starts with KEYSHIFT_, which is reserved: keyshift sets those variables itself`],
  ]],
  ['env value not a string', ['deploy:', '  - run: [x]', '    env: { PORT: 8080 }'], [[12, 26, `${P}.deploy[0].env.PORT: expected a string, got a number`]]],
  ['env lists a key of keyshift', ['deploy:', '  - run: [x]', '    env: [KUBECONFIG, KEYSHIFT_MASTER_KEY]'], [
    [12, 31, `${P}.deploy[0].env[1]: is one of keyshift's keys, which never reach a hook or a generator`],
  ]],
  ['env sets a key of keyshift', ['verify:', '  - run: [x]', '    env: { KEYSHIFT_SIGNING_KEY: x }'], [
    [12, 42, `${P}.verify[0].env.KEYSHIFT_SIGNING_KEY: is one of keyshift's keys`],
  ]],
  ['env passes everything', ['deploy:', '  - run: [x]', '    env: ["*"]'], [[12, 19, `${P}.deploy[0].env[0]: would pass keyshift's whole environment`]]],
  ['env pattern over KEYSHIFT_*', ['deploy:', '  - run: [x]', '    env: [AWS_*, KEY*]'], [[12, 26, `${P}.deploy[0].env[1]: would match keyshift's own KEYSHIFT_* variables`]]],
  ['env item not a name', ['deploy:', '  - run: [x]', '    env: [AWS-PROFILE]'], [[12, 19, `${P}.deploy[0].env[0]: is not a valid environment variable name`]]],
  ['env neither list nor map', ['deploy:', '  - run: [x]', '    env: KUBECONFIG'], [[12, 18, `${P}.deploy[0].env: must be a list of variables to pass through or a map of variables to set`]]],
  ['empty cwd', ['deploy:', '  - run: [x]', '    cwd: ""'], [[12, 18, `${P}.deploy[0].cwd: must not be empty`]]],
  ['bad hook timeout', ['deploy:', '  - run: [x]', '    timeout: 5x'], [[12, 22, `${P}.deploy[0].timeout: "5x" is not a duration`]]],
  ['bad url', ['verify:', '  - run: [x]', '  - http: { url: ftp://example.com/x }'], [
    [12, 26, `${P}.verify[1].http.url: must be an absolute http:// or https:// URL`],
  ]],
  ['not a url', ['verify:', '  - http:', '      url: example.com/healthz'], [[12, 20, `${P}.verify[0].http.url: must be an absolute http:// or https:// URL`]]],
  ['bad method', ['verify:', '  - http: { url: "https://a.example", method: PUT }'], [
    [11, 55, `${P}.verify[0].http.method: must be one of GET, HEAD, POST`],
  ]],
  ['bad expectStatus', ['verify:', '  - http: { url: "https://a.example", expectStatus: 99 }'], [
    [11, 61, `${P}.verify[0].http.expectStatus: must be a whole number from 100 to 599`],
  ]],
  ['both run and http', ['verify:', '  - run: [x]', '    http: { url: "https://a.example" }'], [
    [11, 13, `${P}.verify[0]: a verify hook needs either run or http, not both`],
  ]],
  ['neither run nor http', ['verify:', '  - cwd: x'], [[11, 13, `${P}.verify[0]: a verify hook needs either run or http; e.g. run:`]]],
  ['timeout beside http', ['verify:', '  - http: { url: "https://a.example" }', '    timeout: 5s'], [
    [12, 22, `${P}.verify[0].timeout: applies only to run hooks; put it inside http`],
  ]],
  ['unknown key in a command hook', ['deploy:', '  - run: [x]', '    shell: true'], [
    [12, 13, `${P}.deploy[0]: unknown key "shell"; allowed keys: run, timeout, env, cwd`],
  ]],
  ['unknown key in an http check', ['verify:', '  - http: { url: "https://a.example", headers: {} }'], [
    [11, 47, `${P}.verify[0].http: unknown key "headers"; allowed keys: url, method, expectStatus, timeout`],
  ]],
  ['http in deploy', ['deploy:', '  - http: { url: "https://a.example" }'], [
    [11, 13, `${P}.deploy[0]: unknown key "http"; allowed keys: run, timeout, env, cwd`],
    [11, 13, `${P}.deploy[0].run: missing; a hook needs run`],
  ]],
  ['hooks not a list', ['deploy: { run: [x] }'], [[10, 17, `${P}.deploy: must be a list of hooks, e.g. - run: [./deploy.sh] (got a map)`]]],
];

for (const [title, lines, expected] of badHooks) {
  test(`bad hook: ${title}`, async () => {
    const { errors, policies } = await load(policy(lines));
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

test("a command generator's env: is checked like a hook's", async () => {
  const text = policy().replace('generator: { type: random, bytes: 32 }', 'generator: { type: command, run: [./issue.sh], env: [VAULT_ADDR, KEYSHIFT_FINGERPRINT_KEY] }');
  const { errors, policies } = await load(text);
  assert.deepEqual(errors.map((e) => [e.line, e.col]), [[5, 70]]);
  assert.match(errors[0].message, /^secrets\[0\]\.generator\.env\[1\]: is one of keyshift's keys/);
  assert.deepEqual(policies, []);
  const ok = await load(policy().replace('generator: { type: random, bytes: 32 }', 'generator: { type: command, run: [./issue.sh], env: [VAULT_ADDR, "VAULT_*", TEAM=payments] }'));
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.policies[0].generator, { type: 'command', run: ['./issue.sh'], timeoutMs: 30_000, env: { TEAM: 'payments' }, passEnv: ['VAULT_ADDR', 'VAULT_*'] });
});

test('a bad revoke hook points at its field', async () => {
  const { errors } = await load(policy([], ['revoke:', '  - run: [./revoke.sh]', '    env: { KEYSHIFT_OLD: x }']));
  assert.deepEqual(
    errors.map((e) => [e.line, e.col]),
    [[13, 30]],
  );
  assert.match(errors[0].message, /^secrets\[0\]\.revoke\[0\]\.env\.KEYSHIFT_OLD: starts with KEYSHIFT_/);
});

test('the JSON Schema describes hooks strictly', () => {
  const secret = policyJsonSchema().properties.secrets.items;
  const environment = secret.properties.environments.items;
  const deploy = environment.properties.deploy.items;
  const verify = environment.properties.verify.items;
  const revoke = secret.properties.revoke.items;
  for (const object of [deploy, verify, revoke, verify.properties.http]) assert.equal(object.additionalProperties, false);
  assert.deepEqual(deploy.required, ['run']);
  assert.deepEqual(verify.properties.http.required, ['url']);
  assert.deepEqual(verify.properties.http.properties.method.enum, ['GET', 'HEAD', 'POST']);
  assert.equal(verify.oneOf.length, 2);
  assert.deepEqual(secret.required, ['name', 'interval', 'fallbackWindow', 'environments']);
  assert.deepEqual(environment.required, ['name', 'store']);
});
