import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Log } from '../log.js';
import { policyFiles } from './policy-files.js';
import type { LoadedPolicies, PolicyProblem } from './types.js';

const FORMAT = 3;
/** Results kept; older ones are removed when a new one is written. */
const KEEP = 64;

/**
 * Valid policies, cached by content. Parsing YAML and validating with zod is most of a `plan` or
 * `status`; a run whose policy files (and keyshift version and working directory) are byte for
 * byte those of an earlier valid run reuses its result and never loads either. Only valid results
 * are cached, in the user's cache directory (mode 0700); `KEYSHIFT_NO_CACHE=1` turns it off.
 */
export async function loadPoliciesCached(target: string, options: { cwd: string; env: NodeJS.ProcessEnv; version: string; log: Log }): Promise<LoadedPolicies> {
  const dir = cacheDir(options.env);
  const key = dir ? await cacheKey(target, options) : null;
  const file = dir && key ? join(dir, `policies-${key}.json`) : null;
  if (file) {
    const hit = await readCached(file);
    if (hit) return hit;
  }
  const { loadPolicies } = await import('./load.js');
  const loaded = await loadPolicies(target, options);
  if (file && dir && loaded.errors.length === 0) {
    await writeCached(dir, file, loaded).catch((error: unknown) => options.log.debug({ err: String(error) }, 'could not write the policy cache'));
  }
  return loaded;
}

function cacheDir(env: NodeJS.ProcessEnv): string | null {
  if (env.KEYSHIFT_NO_CACHE === '1') return null;
  if (env.KEYSHIFT_CACHE_DIR) return env.KEYSHIFT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : safeHome());
  return base ? join(base, 'keyshift') : null;
}

/** Hash of everything the result depends on; null when the files cannot be listed (the loader reports why). */
async function cacheKey(target: string, options: { cwd: string; version: string }): Promise<string | null> {
  const cwd = resolve(options.cwd);
  const problems: PolicyProblem[] = [];
  const paths = await policyFiles(resolve(cwd, target), cwd, problems);
  if (problems.length > 0) return null;
  const hash = createHash('sha256').update(JSON.stringify([FORMAT, options.version, await buildId(), cwd, target]));
  for (const path of paths) {
    const text = await readFile(path).catch(() => null);
    if (!text) return null;
    hash.update(`\0${path}\0${text.length}\0`).update(text);
  }
  return hash.digest('hex');
}

/** Changes with every build of keyshift, so a result cached by another build is never reused. */
async function buildId(): Promise<string> {
  const info = await stat(new URL(import.meta.url)).catch(() => null);
  return info ? `${info.size}:${info.mtimeMs}` : 'unknown';
}

async function readCached(file: string): Promise<LoadedPolicies | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as LoadedPolicies & { format?: number };
    if (parsed.format !== FORMAT || !Array.isArray(parsed.policies) || !Array.isArray(parsed.files)) return null;
    return { policies: parsed.policies, files: parsed.files, warnings: parsed.warnings ?? [], errors: [] };
  } catch {
    return null;
  }
}

async function writeCached(dir: string, file: string, loaded: LoadedPolicies): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, JSON.stringify({ format: FORMAT, policies: loaded.policies, files: loaded.files, warnings: loaded.warnings }), { mode: 0o600 });
  await rename(temp, file);
  const names = (await readdir(dir)).filter((name) => name.startsWith('policies-') && name.endsWith('.json'));
  if (names.length <= KEEP) return;
  const aged = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(join(dir, name)).catch(() => null))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.mtime - b.mtime);
  await Promise.all(aged.slice(0, aged.length - KEEP).map(({ name }) => rm(join(dir, name), { force: true })));
}

function safeHome(): string | null {
  try {
    return join(homedir(), '.cache');
  } catch {
    return null;
  }
}
