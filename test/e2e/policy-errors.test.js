// Every kind of bad policy: exit 2, one line per problem with file:line:col, no stack trace, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject, writeFiles, assertNoStackTrace } from '../helpers/cli.js';

const good = (name, extra = '') =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n${extra}`;

const cases = [
  { name: 'unknown key', yaml: `secrets:\n${good('a')}    colour: blue\n`, expect: [/^policies\/p\.yaml:9:5: .*unknown key "colour"/] },
  { name: 'bad duration', yaml: `secrets:\n${good('a').replace('30d', '30x')}`, expect: [/^policies\/p\.yaml:3:15: .*interval/] },
  { name: 'zero duration', yaml: `secrets:\n${good('a').replace('1h', '0h')}`, expect: [/^policies\/p\.yaml:4:21: .*fallbackWindow/] },
  { name: 'window longer than interval', yaml: `secrets:\n${good('a').replace('1h', '31d')}`, expect: [/^policies\/p\.yaml:4:\d+: .*fallbackWindow.*longer than.*interval/i] },
  { name: 'duplicate secret', yaml: `secrets:\n${good('a')}${good('a')}`, expect: [/^policies\/p\.yaml:9:\d+: .*duplicate.*"a"/i] },
  {
    name: 'duplicate environment',
    yaml: `secrets:\n${good('a')}      - name: dev\n        store: { type: local, path: .keyshift/x.store }\n`,
    expect: [/^policies\/p\.yaml:9:\d+: .*duplicate.*"dev"/i],
  },
  { name: 'missing generator', yaml: `secrets:\n${good('a').replace('    generator: { type: random, bytes: 32 }\n', '')}`, expect: [/^policies\/p\.yaml:2:\d+: .*generator/] },
  { name: 'missing store', yaml: `secrets:\n${good('a').replace('\n        store: { type: local, path: .keyshift/dev.store }', '')}`, expect: [/^policies\/p\.yaml:\d+:\d+: .*store/] },
  { name: 'no environments', yaml: `secrets:\n${good('a').replace(/    environments:[\s\S]*/, '    environments: []\n')}`, expect: [/^policies\/p\.yaml:6:\d+: .*environments/] },
  { name: 'YAML syntax error', yaml: 'secrets:\n  - name: a\n    interval: [30d\n', expect: [/^policies\/p\.yaml:\d+:\d+: /] },
  { name: 'two problems at once', yaml: `secrets:\n${good('a').replace('30d', 'often')}${good('B')}`, expect: [/interval/, /name/] },
];

for (const c of cases) {
  test(`bad policy: ${c.name}`, () => {
    const dir = tempProject();
    writeFiles(dir, { 'policies/p.yaml': c.yaml });
    for (const command of [['validate'], ['rotate', '--all'], ['plan']]) {
      const result = runCli(command, { cwd: dir });
      assert.equal(result.code, 2, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
      assertNoStackTrace(assert, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, c.expect.length, `one line per problem:\n${result.stderr}`);
      c.expect.forEach((pattern, i) => assert.match(lines[i], pattern));
    }
    assert.ok(!existsSync(join(dir, '.keyshift')), 'nothing was written');
    assert.ok(!existsSync(join(dir, 'evidence')), 'no evidence was written');
  });
}

test('bad policy: an empty directory and a missing path', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/README.txt': 'no yaml here' });
  const empty = runCli(['validate'], { cwd: dir });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /^policies:1:1: /);
  const missing = runCli(['validate', '-p', 'nowhere.yaml'], { cwd: dir });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^nowhere\.yaml:1:1: /);
});

test('schema prints a JSON Schema generated from the policy schema', () => {
  const result = runCli(['schema'], { cwd: tempProject() });
  assert.equal(result.code, 0);
  const schema = JSON.parse(result.stdout);
  assert.ok(schema.properties.secrets, 'describes the secrets list');
  assert.equal(schema.additionalProperties, false);
});
