// A two-environment policy fixture for policy unit tests, loaded from a temporary directory.
import { after } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

export const FILE = 'policies/p.yaml';

export async function load(text) {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-policy-'));
  tempDirs.push(cwd);
  mkdirSync(dirname(join(cwd, FILE)), { recursive: true });
  writeFileSync(join(cwd, FILE), text);
  return { cwd, ...(await loadPolicies('policies', { cwd })) };
}

/** A valid secret with two environments; `prodLines` go under prod (line 10 on), `secretLines` after it. */
export function policy(prodLines = [], secretLines = []) {
  return `${[
    'secrets:', //                                                   1
    '  - name: api-key', //                                          2
    '    interval: 90d', //                                          3
    '    fallbackWindow: 48h', //                                    4
    '    generator: { type: random, bytes: 32 }', //                 5
    '    environments:', //                                          6
    '      - name: dev', //                                          7
    '        store: { type: local, path: .keyshift/dev.store }', //  8
    '      - name: prod', //                                         9
    ...prodLines.map((line) => `        ${line}`), //                10…
    '        store: { type: local, path: .keyshift/prod.store }',
    ...secretLines.map((line) => `    ${line}`),
  ].join('\n')}\n`;
}
