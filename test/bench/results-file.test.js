// bench/RESULTS.md is written only by the bench scripts: `--write` round-trips, replaces its own
// section, keeps the others, and refuses a page edited by hand. The repository's page must parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCHMARKS, RESULTS_FILE, ResultsFileError, parseResults, recordResults, renderResults } from '../../bench/results-file.js';

const page = () => join(mkdtempSync(join(tmpdir(), 'keyshift-results-')), 'RESULTS.md');
const smTable = (seconds) => `## aws-secrets-manager: rotate --all --force (2026-12-02)\n\n| case | wall time |\n|---|---|\n| 1000 secrets | ${seconds} s |\n`;
const kmsTable = '## aws-kms: emergency rotate --all --force (2026-12-02)\n\n| keys | wall time |\n|---|---|\n| 100 | 60.1 s |\n';

test('writing the same results twice gives the same file', () => {
  const file = page();
  recordResults('aws-secrets-manager', smTable(41.5), file);
  const once = readFileSync(file, 'utf8');
  recordResults('aws-secrets-manager', smTable(41.5), file);
  assert.equal(readFileSync(file, 'utf8'), once);
  assert.deepEqual(parseResults(once), { 'aws-secrets-manager': smTable(41.5) });
});

test("a benchmark's section is replaced, not added again; the others stay, in page order", () => {
  const file = page();
  recordResults('aws-kms', kmsTable, file);
  recordResults('aws-secrets-manager', smTable(41.5), file);
  recordResults('aws-secrets-manager', smTable(40.9), file);
  const text = readFileSync(file, 'utf8');
  assert.equal(text.match(/^## aws-secrets-manager/gm).length, 1);
  assert.ok(!text.includes('41.5 s') && text.includes('40.9 s'));
  assert.ok(text.indexOf('## aws-secrets-manager') < text.indexOf('## aws-kms'), 'sections in BENCHMARKS order');
  assert.deepEqual(parseResults(text), { 'aws-secrets-manager': smTable(40.9), 'aws-kms': kmsTable });
  assert.equal(renderResults(parseResults(text)), text);
});

test('a page edited by hand is refused by the next --write, naming the line; the file is left as it was', () => {
  const file = page();
  recordResults('aws-secrets-manager', smTable(41.5), file);
  recordResults('aws-kms', kmsTable, file);
  const written = readFileSync(file, 'utf8');
  const edits = {
    'a figure changed inside a section': [written.replace('41.5 s', '39.0 s'), /:\d+: section "aws-secrets-manager" was edited after its script wrote it/],
    'a note between sections': [written.replace('\n<!-- bench:aws-kms', '\nThe quota was lower that day.\n<!-- bench:aws-kms'), /:\d+: text outside the recorded sections/],
    'a note at the end': [`${written}\n## Notes\n`, /:\d+: text outside the recorded sections/],
    'the header reworded': [written.replace('Do not edit', 'Please do not edit'), /:1: the header/],
    'a section pasted twice': [`${written}\n${written.slice(written.indexOf('<!-- bench:aws-kms'))}`, /a second section "aws-kms"/],
  };
  for (const [what, [text, problem]] of Object.entries(edits)) {
    writeFileSync(file, text);
    assert.throws(() => recordResults('aws-kms', kmsTable, file), (e) => e instanceof ResultsFileError && problem.test(e.message), what);
    assert.equal(readFileSync(file, 'utf8'), text, `${what}: nothing written`);
  }
  assert.throws(() => recordResults('bench-typo', kmsTable, file), /unknown benchmark "bench-typo"/);
});

test("the repository's bench/RESULTS.md is exactly what the scripts wrote", () => {
  const text = readFileSync(RESULTS_FILE, 'utf8');
  const sections = parseResults(text, 'bench/RESULTS.md');
  assert.equal(renderResults(sections), text);
  assert.ok(Object.keys(sections).every((name) => BENCHMARKS.includes(name)));
});
