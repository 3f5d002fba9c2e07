import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KeyshiftError } from '../errors.js';
import { evidenceFile, readLines } from './log-file.js';
import { verifyEvidence, type VerifyResult } from './verify.js';

/** One evidence log given on the command line: a dir holding evidence.jsonl, or that file itself. */
export interface EvidenceSource {
  given: string;
  dir: string;
}

/**
 * `evidence verify|merge <dir|file>…`: a dir is an --evidence-dir; a file must be an evidence.jsonl
 * in one (a runner's own log). A merged file is refused: its records keep their chains' hashes,
 * but only the source logs can be checked against the stores' anchors.
 */
export async function resolveSource(given: string, absolute: string): Promise<EvidenceSource> {
  const stat = await fs.stat(absolute).catch(() => null);
  if (stat === null) throw new KeyshiftError('ERR_NOT_FOUND', `${given} does not exist`, { exitCode: 2, hint: 'give evidence dirs (each runner\'s --evidence-dir) or their evidence.jsonl files' });
  if (stat.isDirectory()) return { given, dir: absolute };
  if (basename(absolute) === 'evidence.jsonl') return { given, dir: dirname(absolute) };
  if (await isMerged(absolute)) {
    throw new KeyshiftError('ERR_USAGE', `${given} is a merged file (written by evidence merge): it cannot be verified on its own`, {
      exitCode: 2,
      hint: 'verify the runners\' evidence dirs it was merged from: keyshift evidence verify <dir>…',
    });
  }
  throw new KeyshiftError('ERR_USAGE', `${given} is neither an evidence dir nor an evidence.jsonl file`, { exitCode: 2, hint: 'give each runner\'s --evidence-dir' });
}

async function isMerged(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const first = buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
    const record = JSON.parse(first) as Record<string, unknown>;
    return typeof record.chain === 'string' && typeof record.source === 'string';
  } catch {
    return false;
  } finally {
    await handle.close();
  }
}

export interface MergeResult {
  out: string;
  records: number;
  chains: Array<{ chain: string; source: string; records: number }>;
}

/**
 * One time-ordered JSONL of several runners' logs. Each record is kept as written (seq, hash,
 * prevHash and every field), plus `chain` (its log's chain id: the hash of its seq 1) and `source`
 * (the log as given). Order: `at`, then chain, then seq. A broken log is refused, not merged.
 */
export async function mergeEvidence(sources: EvidenceSource[], out: string): Promise<MergeResult> {
  const all: Array<{ at: string; chain: string; seq: number; line: string }> = [];
  const chains: MergeResult['chains'] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const verified: VerifyResult = await verifyEvidence(source.dir, [], { readOnly: true });
    if (!verified.ok) {
      throw new KeyshiftError('ERR_EVIDENCE_BROKEN', `${source.given}: line ${verified.line}: ${verified.problem}`, { exitCode: 1, hint: 'run keyshift evidence verify on it; a broken log is not merged' });
    }
    if (!verified.head) continue;
    const chain = verified.head.chainId;
    const twice = seen.get(chain);
    if (twice !== undefined) throw new KeyshiftError('ERR_USAGE', `${source.given} and ${twice} are the same evidence chain`, { exitCode: 2, hint: 'give each runner\'s log once' });
    seen.set(chain, source.given);
    const file = evidenceFile(source.dir);
    const end = await fs.stat(file).then((s) => s.size);
    let count = 0;
    for await (const line of readLines(file, end)) {
      // A runner may be writing: its half-written last line is not part of what was verified.
      if (!line.terminated) break;
      const record = JSON.parse(line.bytes.toString('utf8')) as Record<string, unknown>;
      if ((record.seq as number) > verified.head.seq) break;
      all.push({ at: record.at as string, chain, seq: record.seq as number, line: JSON.stringify({ ...record, chain, source: source.given }) });
      count += 1;
    }
    chains.push({ chain, source: source.given, records: count });
  }
  all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : a.seq - b.seq));
  const temp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  await fs.writeFile(temp, all.map((r) => `${r.line}\n`).join(''), { mode: 0o640 });
  await fs.rename(temp, out);
  return { out, records: all.length, chains };
}
