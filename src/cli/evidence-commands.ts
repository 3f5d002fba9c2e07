import { resolve } from 'node:path';
import { ExitCode } from '../errors.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';
import { verifyMany, verifyWithAnchors } from './verify.js';
import { readPublicKey } from '../evidence/sign.js';
import { mergeEvidence, resolveSource } from '../evidence/merge.js';
import { tryLoadPolicies } from './commands.js';

/** Handlers of `evidence verify` and `evidence merge`. */

export async function verifyCommand(g: GlobalOptions, logs: string[], io: Io, publicKeyFile?: string): Promise<number> {
  const publicKey = publicKeyFile === undefined ? null : await readPublicKey(publicKeyFile, io.cwd);
  // One log given is the same check as --evidence-dir; several are one runner's log each.
  if (logs.length > 1) return verifyMany(g, logs, io, await tryLoadPolicies(g, io), publicKey);
  const [only] = logs;
  if (only !== undefined) g = { ...g, evidenceDir: (await resolveSource(only, resolve(io.cwd, only))).dir };
  return verifyWithAnchors(g, io, await tryLoadPolicies(g, io), publicKey);
}

export async function mergeCommand(g: GlobalOptions, logs: string[], out: string, io: Io): Promise<number> {
  const sources = [];
  for (const given of logs) sources.push(await resolveSource(given, resolve(io.cwd, given)));
  const merged = await mergeEvidence(sources, resolve(io.cwd, out));
  if (g.json) printJson(io.out, { out, records: merged.records, chains: merged.chains });
  else io.out.stdout(`${out}: ${merged.records} records from ${merged.chains.length} chain(s), ordered by time\n`);
  return ExitCode.ok;
}
