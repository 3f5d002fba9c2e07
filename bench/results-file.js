// bench/RESULTS.md is written only by the benchmark scripts (`--write`): one section per benchmark,
// replaced by that benchmark's next run, each between markers that carry a SHA-256 of its text, so
// an edit by hand (inside a section or between them) is found and refused rather than kept.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RESULTS_FILE = fileURLToPath(new URL('RESULTS.md', import.meta.url));
/** The benchmarks, in page order: bench/<name>.js writes section <name>. */
export const BENCHMARKS = ['run', 'local-rotate', 'aws-secrets-manager', 'aws-kms', 'aws-secrets-manager-shards', 'report', 'file-stores', 'reencrypt', 'reencrypt-threads', 'reencrypt-postgres', 'reencrypt-postgres-threads'];
const HEADER =
  '# Benchmark results\n\n' +
  'Written by the benchmark scripts with `--write` (see bench/README.md), one section per script, replaced by\n' +
  'its next run. Do not edit this page: an edit is refused by the next `--write` and fails\n' +
  '`test/bench/results-file.test.js`; notes on the figures belong in bench/README.md.\n';
const OPEN = /^<!-- bench:([a-z0-9-]+) sha256:([0-9a-f]{64}) -->$/;

export class ResultsFileError extends Error {}

/** Records `markdown` as benchmark `name`'s section of `file`, keeping the other sections as they are. */
export function recordResults(name, markdown, file = RESULTS_FILE) {
  if (!BENCHMARKS.includes(name)) throw new ResultsFileError(`unknown benchmark "${name}"; known: ${BENCHMARKS.join(', ')}`);
  let text = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  const sections = text === null ? {} : parseResults(text, file);
  sections[name] = markdown;
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, renderResults(sections));
  renameSync(temp, file);
}

/** The page for these sections: header, then each benchmark's section in BENCHMARKS order. */
export function renderResults(sections) {
  const parts = [HEADER];
  for (const name of BENCHMARKS) {
    if (sections[name] === undefined) continue;
    const body = `${sections[name].trim()}\n`;
    parts.push(`<!-- bench:${name} sha256:${sha256(body)} -->\n${body}<!-- /bench:${name} -->\n`);
  }
  return parts.join('\n');
}

/**
 * The sections of a page renderResults wrote: {name: markdown}. Throws ResultsFileError naming the
 * line for anything else: text outside the sections, a section whose text no longer matches its
 * hash (edited by hand), a section twice or out of order.
 */
export function parseResults(text, file = 'RESULTS.md') {
  const fail = (index, problem) => {
    throw new ResultsFileError(`${file}:${index + 1}: ${problem}; the page is written only by the bench scripts (bench/README.md)`);
  };
  if (!text.startsWith(HEADER)) fail(0, 'the header is not the one the scripts write');
  const lines = text.slice(HEADER.length).split('\n');
  const offset = HEADER.split('\n').length - 1;
  const sections = {};
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const open = OPEN.exec(lines[i]);
    if (!open) fail(offset + i, 'text outside the recorded sections');
    const [, name, hash] = open;
    if (!BENCHMARKS.includes(name)) fail(offset + i, `unknown benchmark section "${name}"`);
    if (name in sections) fail(offset + i, `a second section "${name}"`);
    const end = lines.indexOf(`<!-- /bench:${name} -->`, i + 1);
    if (end < 0) fail(offset + i, `section "${name}" has no end marker`);
    const body = `${lines.slice(i + 1, end).join('\n')}\n`;
    if (sha256(body) !== hash) fail(offset + i, `section "${name}" was edited after its script wrote it`);
    sections[name] = body;
    i = end;
  }
  if (renderResults(sections) !== text) fail(0, 'sections out of order or spaced differently from what the scripts write');
  return sections;
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}
