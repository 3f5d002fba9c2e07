// Records a benchmark's Markdown section in bench/RESULTS.md: newest first, below the page header.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('RESULTS.md', import.meta.url);
const HEADER = '# Benchmark results\n\nRecorded by `node bench/run.js --write` (see bench/README.md). Newest first.\n\n';

export function recordResults(markdown) {
  let previous = '';
  try {
    previous = readFileSync(file, 'utf8');
  } catch {}
  writeFileSync(file, `${HEADER}${markdown.trimEnd()}\n\n${previous.replace(HEADER, '')}`);
}
