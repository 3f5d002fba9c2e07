// A two-environment policy fixture for policy unit tests, loaded from a temporary directory.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

export const FILE = 'policies/p.yaml';

/** What a `reencrypt:` block that names only its database and tables gets (docs/reencrypt.md). */
export const REENCRYPT_DEFAULTS = {
  batchSize: 1000,
  canary: 0.01,
  stages: [0.25, 0.5, 0.75, 1],
  observeMs: 7_200_000,
  decryptErrorRate: 0.001,
  aad: null,
};

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

/**
 * One secret whose generator is on line 5 (none when null, and everything below moves up a line) and
 * whose one environment's store is on line 8; `extra` is YAML put after it (more secret keys).
 */
export const oneSecret = (store, extra = '', generator = '{ type: random, bytes: 32 }') =>
  `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n${generator === null ? '' : `    generator: ${generator}\n`}` +
  `    environments:\n      - name: dev\n        store: ${store}\n${extra}`;

/** `line:col path: message` of each problem the loader reports for `text`. */
export async function problems(text) {
  const { errors } = await load(text);
  return errors.map((e) => `${e.line}:${e.col} ${e.message}`);
}

/** Each case: [input or [args…], the exact problems] ([] = accepted); `make` turns the args into YAML. */
export async function checkProblems(cases, make = oneSecret) {
  for (const [input, expected] of cases) {
    const args = Array.isArray(input) ? input : [input];
    assert.deepEqual(await problems(make(...args)), expected, JSON.stringify(input));
  }
}
