// `evidence verify --export` checks a ticket attachment on its own: not only the records and their
// proof, but also what a reader of the document sees first — its secret, environments and summary
// (operator, reason, ticket, emergency, versions, fingerprints, checks, events), which are derived
// from the records and must agree with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, runCli, tempProject, writeFiles } from '../helpers/cli.js';

const env = (name) => `      - name: ${name}\n        store: { type: local, path: .keyshift/${name}.store }\n`;

/** Keys sorted at every level, as `jq -S` writes a document: still the same document. */
const sorted = (value) => Array.isArray(value) ? value.map(sorted) : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])])) : value;

test('verify --export finds an edited summary, secret or environment list; a reformatted document still verifies', () => {
  const dir = tempProject('keyshift-export-summary-');
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n  - name: api\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n${env('dev')}${env('prod')}` });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const rotated = runCli(['rotate', 'api', '--force', '--reason', 'key leaked in CI log', '--ticket', 'INC-77', '--json'], { cwd: dir });
  assert.equal(rotated.code, 0, rotated.stderr);
  const rotationId = json(rotated).results[0].rotationId;
  const out = join(dir, 'export.json');
  assert.equal(runCli(['evidence', 'export', '--rotation', rotationId, '--out', out], { cwd: dir }).code, 0);
  const document = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(document.summary.ticket, 'INC-77');

  const verify = (doc) => {
    const file = join(dir, 'check.json');
    writeFileSync(file, JSON.stringify(doc));
    return runCli(['evidence', 'verify', '--export', file, '--json'], { cwd: '/' });
  };
  const intact = verify(document);
  assert.equal(intact.code, 0, intact.stdout + intact.stderr);
  assert.equal(verify(sorted(document)).code, 0, 'key order is not content');

  const edits = {
    'summary.ticket': (d) => { d.summary.ticket = 'CHG-1'; },
    'summary.reason': (d) => { d.summary.reason = 'scheduled'; },
    'summary.operator': (d) => { d.summary.operator = ['mallory@host']; },
    'summary.emergency': (d) => { d.summary.emergency = false; },
    'summary.toVersion': (d) => { d.summary.toVersion = 'v-other'; },
    'summary.events': (d) => { d.summary.events.pop(); },
    secret: (d) => { d.secret = 'other-secret'; },
    environments: (d) => { d.environments = ['staging']; },
  };
  for (const [what, edit] of Object.entries(edits)) {
    const doc = structuredClone(document);
    edit(doc);
    const result = verify(doc);
    assert.equal(result.code, 1, `${what} edited, yet: ${result.stdout}`);
    assert.equal(json(result).ok, false, what);
  }
});
