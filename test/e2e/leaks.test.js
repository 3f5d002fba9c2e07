// A canary value must appear only on `get`'s stdout: never in other output, logs at trace level, or evidence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject, writeFiles } from '../helpers/cli.js';

const CANARY = 'KSCANARY';
const issuer = `["node", "-e", "process.stdout.write('${CANARY}' + require('crypto').randomBytes(12).toString('hex'))"]`;

test('a canary secret never leaks outside get', () => {
  const dir = tempProject();
  writeFiles(dir, {
    'policies/canary.yaml': `secrets:\n  - name: canary\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: command, run: ${issuer} }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n        deploy: [{ run: "cat; cat \\"$KEYSHIFT_VALUE_FILE\\" >&2" }]\n        verify: [{ run: [sh, -c, "cat; exit 3"] }]\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }\n`,
  });
  const outputs = [];
  const run = (...args) => {
    const result = runCli([...args, '--log-level', 'trace'], { cwd: dir });
    outputs.push({ args, ...result });
    return result;
  };
  assert.equal(run('rotate', '--all').code, 0);
  // dev's verify hook echoes the value and fails: the failure and rollback paths log hook output.
  assert.equal(run('rotate', '--all', '--force', '--reason', 'leak test', '--json').code, 1);
  assert.ok(outputs.at(-1).stderr.includes('[redacted]'), 'hook output is logged, redacted');
  run('plan');
  run('plan', '--json', '--force');
  run('status');
  run('status', '--json');
  run('rotate', '--all', '--force', '--dry-run');
  run('rollback', 'canary', '--env', 'prod');
  run('evidence', 'verify');
  run('doctor');
  run('doctor', '--fix', '--json');
  for (const o of outputs) {
    assert.ok(!o.stdout.includes(CANARY), `stdout of ${o.args.join(' ')}`);
    assert.ok(!o.stderr.includes(CANARY), `stderr of ${o.args.join(' ')}`);
  }
  assert.ok(outputs.some((o) => o.stderr.includes('"level":10') || o.stderr.includes('"level":30')), 'trace logging was on');
  const evidence = readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8');
  assert.ok(!evidence.includes(CANARY), 'evidence holds no value');
  for (const file of readdirSync(join(dir, '.keyshift'))) {
    assert.ok(!readFileSync(join(dir, '.keyshift', file)).includes(CANARY), `${file} holds the value only encrypted`);
  }
  const got = runCli(['get', 'canary', '--log-level', 'trace'], { cwd: dir });
  assert.match(got.stdout, new RegExp(`^${CANARY}[0-9a-f]{24}\\n$`));
  assert.ok(!got.stderr.includes(CANARY));
});
