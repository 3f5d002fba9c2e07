// Two local stores share one evidence log. The log is cut below store y's anchor but not below x's,
// and rotations of x's secret write on past the cut (they hold only x's lock, so they expect only
// x's anchors). The next rotation of y's secret must refuse, naming y's anchor: were it to append
// and anchor its records, y's anchor would move past the rewrite and `evidence verify` pass again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoStackTrace, cli, json, tempProject, writeFiles } from '../helpers/cli.js';

const secret = (name, store) =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1s\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/${store}.store }\n`;
const run = (dir, args) => cli(args, { cwd: dir });
const lineCount = (file) => readFileSync(file, 'utf8').split('\n').length - 1;

test('a log cut below one store\'s anchor and written on by another store\'s runs: the first store\'s next run is refused and changes nothing', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('on-x', 'x')}${secret('on-y', 'y')}` });
  const file = join(dir, 'evidence', 'evidence.jsonl');
  const first = await run(dir, ['rotate', '--all', '-q']);
  assert.equal(first.code, 0, first.stderr);
  const xAnchored = lineCount(file);
  assert.equal((await run(dir, ['rotate', 'on-y', '--force', '--reason', 'y moves on', '-q'])).code, 0);
  const anchors = json(await run(dir, ['evidence', 'anchors', '--json'])).stores;
  const yAnchor = anchors.find((s) => s.store.endsWith('y.store')).anchors[0];
  assert.ok(yAnchor.seq > xAnchored, `y's anchor (${yAnchor.seq}) is past x's (${xAnchored})`);

  // Cut back to x's anchor: y's last records are gone; then x's rotations write on past y's anchor.
  writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(0, xAnchored).join('\n') + '\n');
  while (lineCount(file) <= yAnchor.seq) {
    const x = await run(dir, ['rotate', 'on-x', '--force', '--reason', 'x moves on', '-q']);
    assert.equal(x.code, 0, x.stderr);
  }
  const storeDir = join(dir, '.keyshift');
  const files = () => Object.fromEntries([file, ...readdirSync(storeDir).map((n) => join(storeDir, n))].map((f) => [f, readFileSync(f, 'utf8')]));
  const before = files();

  const refused = await run(dir, ['rotate', 'on-y', '--force', '--reason', 'after the cut']);
  assert.equal(refused.code, 1, refused.stderr);
  assertNoStackTrace(assert, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^keyshift: evidence log .*evidence\\.jsonl is damaged at line ${yAnchor.seq}: record seq ${yAnchor.seq} is not the one store .*y\\.store recorded \\(its hash differs\\): the log was rewritten; nothing was appended\\n`));
  assert.deepEqual(files(), before, 'no store write, nothing appended');
  const verify = await run(dir, ['evidence', 'verify']);
  assert.equal(verify.code, 1, 'the rewrite is still reported');
  assert.match(verify.stdout, new RegExp(`record seq ${yAnchor.seq} is not the one store .*y\\.store recorded`));
});
