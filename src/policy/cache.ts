import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Log } from '../log.js';
import { policyFiles } from './policy-files.js';
import type { LoadedPolicies, PolicyProblem } from './types.js';

const FORMAT = 5;
/** Results kept; older ones are removed when a new one is written. */
const KEEP = 64;

/**
 * Valid policies, cached by content. Parsing YAML and validating with zod is most of a `plan` or
 * `status`; a run whose policy files (and keyshift build and working directory) are byte for byte
 * those of an earlier valid run reuses its result and never loads either. Only valid results are
 * cached, in the user's cache directory (mode 0700); `KEYSHIFT_NO_CACHE=1` turns it off.
 *
 * A cache file holds the result as one JSON line, then the exact inputs it was computed from; a hit
 * compares those bytes with the current inputs. So the file name needs only a cheap hash, and a
 * warm `plan` never loads node:crypto (a few milliseconds of a start-up that takes tens). The name
 * hashes the inputs' frame (build, directory, target, each file's path and length), not the
 * files' text: a policy edited in place replaces its project's entry instead of adding one, and no
 * start hashes the whole text in JavaScript (0.13 ms for the examples, milliseconds for big ones).
 */
export async function loadPoliciesCached(target: string, options: { cwd: string; env: NodeJS.ProcessEnv; version: string; log: Log }): Promise<LoadedPolicies> {
  const dir = cacheDir(options.env);
  const inputs = dir ? await cacheInputs(target, options) : null;
  const file = dir && inputs ? join(dir, `policies-${fnv1a(inputs.frame)}-${inputs.bytes.length}.json`) : null;
  if (file && inputs) {
    const hit = readCached(file, inputs.bytes);
    if (hit) return hit;
  }
  const { loadPolicies } = await import('./load.js');
  const loaded = await loadPolicies(target, options);
  if (file && dir && inputs && loaded.errors.length === 0) {
    await writeCached(dir, file, loaded, inputs.bytes).catch((error: unknown) => options.log.debug({ err: String(error) }, 'could not write the policy cache'));
  }
  return loaded;
}

function cacheDir(env: NodeJS.ProcessEnv): string | null {
  if (env.KEYSHIFT_NO_CACHE === '1') return null;
  if (env.KEYSHIFT_CACHE_DIR) return env.KEYSHIFT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : safeHome());
  return base ? join(base, 'keyshift') : null;
}

/**
 * Everything the result depends on, as bytes, and their frame (all of it but the files' text); null
 * when the files cannot be listed (the loader reports why).
 */
async function cacheInputs(target: string, options: { cwd: string; version: string }): Promise<{ bytes: Buffer; frame: string } | null> {
  const cwd = resolve(options.cwd);
  const problems: PolicyProblem[] = [];
  const paths = policyFiles(resolve(cwd, target), cwd, problems);
  if (problems.length > 0) return null;
  let frame = JSON.stringify([FORMAT, options.version, buildId(), cwd, target]);
  const parts: Buffer[] = [Buffer.from(frame)];
  for (const path of paths) {
    const text = readSync(path);
    if (!text) return null;
    const head = `\0${path}\0${text.length}\0`;
    frame += head;
    parts.push(Buffer.from(head), text);
  }
  return { bytes: Buffer.concat(parts), frame };
}

/**
 * Reads for a cache hit are synchronous: a few small files, nothing else to do meanwhile, and each
 * asynchronous read is four round trips through the thread pool (open, stat, read, close).
 */
function readSync(path: string | URL): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** Changes with every build of keyshift, so a result cached by another build is never reused. */
function buildId(): string {
  try {
    // import.meta.filename (Node >= 20.11, and the bundle) spares a URL: this runs at every start.
    const info = statSync((import.meta.filename as string | undefined) ?? new URL(import.meta.url));
    return `${info.size}:${info.mtimeMs}`;
  } catch {
    return 'unknown';
  }
}

function readCached(file: string, inputs: Buffer): LoadedPolicies | null {
  try {
    const bytes = readFileSync(file);
    const newline = bytes.indexOf(0x0a);
    if (newline < 0 || !bytes.subarray(newline + 1).equals(inputs)) return null;
    const parsed = JSON.parse(bytes.toString('utf8', 0, newline)) as LoadedPolicies & { format?: number };
    if (parsed.format !== FORMAT || !Array.isArray(parsed.policies) || !Array.isArray(parsed.files)) return null;
    return { policies: parsed.policies, files: parsed.files, warnings: parsed.warnings ?? [], errors: [], signingKey: parsed.signingKey ?? null };
  } catch {
    return null;
  }
}

async function writeCached(dir: string, file: string, loaded: LoadedPolicies, inputs: Buffer): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const result = JSON.stringify({ format: FORMAT, policies: loaded.policies, files: loaded.files, warnings: loaded.warnings, signingKey: loaded.signingKey ?? null });
  await fs.writeFile(temp, Buffer.concat([Buffer.from(`${result}\n`), inputs]), { mode: 0o600 });
  await fs.rename(temp, file);
  const names = (await fs.readdir(dir)).filter((name) => name.startsWith('policies-') && name.endsWith('.json'));
  if (names.length <= KEEP) return;
  const aged = await Promise.all(names.map(async (name) => ({ name, mtime: (await fs.stat(join(dir, name)).catch(() => null))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.mtime - b.mtime);
  await Promise.all(aged.slice(0, aged.length - KEEP).map(({ name }) => fs.rm(join(dir, name), { force: true })));
}

/** 32-bit FNV-1a of the UTF-16 code units, as hex: only names the cache file (a hit is decided by comparing the inputs). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

function safeHome(): string | null {
  try {
    return join(homedir(), '.cache');
  } catch {
    return null;
  }
}
