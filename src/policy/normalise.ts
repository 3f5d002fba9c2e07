import { resolve } from 'node:path';
import { parseDuration } from './durations.js';
import { CHARSETS, type SecretInput } from './schema.js';
import type { GeneratorSpec, SecretPolicy, SourcePosition, StoreSpec } from './types.js';

/** The default timeout of a command generator, as written in docs/policies.md. */
export const DEFAULT_COMMAND_TIMEOUT = '30s';

export interface SecretSources {
  secret: SourcePosition;
  environments: SourcePosition[];
}

/**
 * A schema-valid secret → the engine's SecretPolicy: durations in ms, store paths absolute against
 * the working directory (not the policy file, so `-p` elsewhere still writes where the user runs),
 * defaults filled in and named character sets expanded.
 */
export function normaliseSecret(input: SecretInput, sources: SecretSources, cwd: string): SecretPolicy {
  return {
    name: input.name,
    owner: input.owner ?? null,
    description: input.description ?? null,
    interval: input.interval,
    intervalMs: durationMs(input.interval),
    fallbackWindow: input.fallbackWindow,
    fallbackWindowMs: durationMs(input.fallbackWindow),
    generator: normaliseGenerator(input.generator),
    environments: input.environments.map((environment, index) => ({
      name: environment.name,
      store: normaliseStore(environment.store, input.name, cwd),
      source: sources.environments[index] ?? sources.secret,
    })),
    source: sources.secret,
  };
}

function normaliseGenerator(generator: SecretInput['generator']): GeneratorSpec {
  if (generator.type === 'command') {
    return {
      type: 'command',
      run: [...generator.run],
      timeoutMs: durationMs(generator.timeout ?? DEFAULT_COMMAND_TIMEOUT),
    };
  }
  // The schema's check guarantees exactly one of bytes and length.
  if (generator.bytes !== undefined) {
    return { type: 'random', bytes: generator.bytes, encoding: generator.encoding ?? 'base64' };
  }
  return {
    type: 'random',
    length: generator.length as number,
    characters: generator.chars !== undefined ? distinct(generator.chars) : CHARSETS[generator.charset ?? 'alphanumeric'],
  };
}

function normaliseStore(store: SecretInput['environments'][number]['store'], secretName: string, cwd: string): StoreSpec {
  return { type: 'local', path: resolve(cwd, store.path), key: store.key ?? secretName };
}

/** A repeated character would be drawn more often than the others; keep each once, in order. */
function distinct(characters: string): string {
  return [...new Set(characters)].join('');
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new Error(`bug: schema accepted the duration ${JSON.stringify(text)}`);
  return ms;
}
