import type { z } from 'zod';
import { formatPath, valueAt, type DataPath } from './yaml-positions.js';

/**
 * Turns zod issues into one-line messages that name the field and the fix. Values are never
 * echoed here (a wrong-typed field could hold anything); schema.ts only quotes names, durations
 * and type names, which are never secret.
 */

export interface ExplainedIssue {
  path: DataPath;
  /** 'key' points at the key itself (unknown keys), 'value' at the value or, if missing, its map. */
  at: 'key' | 'value';
  message: string;
}

/**
 * `data` is the value `issue` was raised on and `base` its path in the file, so one secret can be
 * validated on its own and still be named `secrets[3].interval`.
 */
export function explainIssue(issue: z.core.$ZodIssue, data: unknown, base: DataPath = []): ExplainedIssue[] {
  const local = issue.path as DataPath;
  const path = base.length === 0 ? local : [...base, ...local];
  const field = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        path: [...path, key],
        at: 'key' as const,
        message: `${prefix(field)}unknown key ${quote(key)}; ${issue.message}`,
      }));
    case 'invalid_type': {
      const value = valueAt(data, local);
      if (value === undefined) return [{ path, at: 'value', message: `${field}: missing; ${addHint(path)}` }];
      const example = exampleFor(path);
      // Without an example of ours, the schema's own message (it names the fix) beats zod's generic one.
      if (!example && !issue.message.startsWith('Invalid input')) {
        return [{ path, at: 'value', message: `${prefix(field)}${issue.message} (got ${describeValue(value)})` }];
      }
      const message = `${prefix(field)}expected ${describeType(issue.expected)}, got ${describeValue(value)}`;
      return [{ path, at: 'value', message: example ? `${message}; e.g. ${example}` : message }];
    }
    case 'invalid_union':
      return [{ path, at: 'value', message: explainUnion(issue, field, valueAt(data, local)) }];
    default:
      return [{ path, at: 'value', message: `${prefix(field)}${issue.message}` }];
  }
}

function explainUnion(issue: z.core.$ZodIssueInvalidUnion, field: string, value: unknown): string {
  if (issue.discriminator !== undefined && 'options' in issue) {
    const options = (issue.options ?? []).map(String).join(', ');
    if (value === undefined) return `${field}: missing; use one of: ${options}`;
    if (typeof value !== 'string') return `${field}: expected one of: ${options}, got ${describeValue(value)}`;
    return `${field}: unknown type ${quote(value)}; use one of: ${options}`;
  }
  return `${prefix(field)}does not match any allowed form; see docs/policies.md`;
}

/** How to add a missing field, with a short example in policy syntax. */
function addHint(path: DataPath): string {
  if (path.length === 1 && path[0] === 'secrets') {
    return 'a policy file holds a "secrets:" list, e.g. secrets: [{ name: api-key, interval: 90d, ... }]';
  }
  const example = exampleFor(path);
  return example ? `add it, e.g. ${example}` : 'add it (see docs/policies.md)';
}

const EXAMPLES: Record<string, string> = {
  owner: 'owner: team-security',
  description: 'description: signs outgoing webhooks',
  controls: 'controls: [SOC2-CC6.1, ISO27001-A.8.24]',
  interval: 'interval: 90d',
  fallbackWindow: 'fallbackWindow: 48h',
  generator: 'generator: { type: random, bytes: 32 }',
  environments: 'environments: [{ name: dev, store: { type: local, path: .keyshift/dev.store } }]',
  store: 'store: { type: local, path: .keyshift/dev.store }',
  path: 'path: .keyshift/dev.store',
  key: 'key: webhook-signing-key',
  bytes: 'bytes: 32',
  encoding: 'encoding: base64',
  length: 'length: 32',
  charset: 'charset: alphanumeric',
  chars: 'chars: abcdefgh23456789',
  run: 'run: [./issue-key.sh, --json]',
  timeout: 'timeout: 30s',
};

function exampleFor(path: DataPath): string | undefined {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (last === 'name') return path[path.length - 3] === 'environments' ? 'name: dev' : 'name: webhook-signing-key';
  // `key` and `path` mean other things outside a store.
  if (last === 'key' && parent === 'signing') return 'key: keys/evidence-signing.pem';
  if (last === 'key' && path.includes('tables')) return 'key: id';
  if (last === 'path' && parent === 'database') return 'path: data/app.db';
  return typeof last === 'string' ? EXAMPLES[last] : undefined;
}

function describeType(expected: string): string {
  const names: Record<string, string> = {
    object: 'a map',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a number' : 'a decimal number';
  if (typeof value === 'boolean') return 'true/false';
  return `a ${typeof value}`;
}

function prefix(field: string): string {
  return field === '' ? '' : `${field}: `;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}
