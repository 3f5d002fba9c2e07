import { promises as fs } from 'node:fs';
import { KeyshiftError } from '../errors.js';
import { evidenceFile, readLines } from './log-file.js';
import { ZERO_HASH, canonicalJson, isHash, recordHash, recordShapeProblem, type EvidenceRecord } from './record.js';

/**
 * `evidence export --rotation <id>`: one JSON document for a change ticket that proves itself. It
 * holds the rotation's records and, as the proof, every record of the log from the rotation's first
 * record up to a store anchor (a seq and hash kept in a store, outside the log): each record's hash
 * recomputes, each names the one before it, and the last one is the record the store anchored.
 * `verifyExport` checks exactly that, with nothing but the document.
 */

export const EXPORT_FORMAT = 'keyshift-evidence-export/1';

export interface AnchorCandidate {
  store: string;
  chainId: string;
  seq: number;
  hash: string;
  at: string;
}

export interface EvidenceExport {
  format: typeof EXPORT_FORMAT;
  exportedAt: string;
  rotationId: string;
  secret: string;
  environments: string[];
  summary: {
    operator: string[];
    reason: string;
    ticket: string | null;
    emergency: boolean;
    fromVersion: string | null;
    toVersion: string | null;
    fingerprints: string[];
    checks: unknown[];
    events: Array<{ seq: number; at: string; event: string; environment: string }>;
  };
  records: EvidenceRecord[];
  proof: { chainId: string; from: number; to: number; anchor: AnchorCandidate; records: EvidenceRecord[] };
}

export async function exportRotation(dir: string, rotationId: string, anchors: AnchorCandidate[], now: Date): Promise<EvidenceExport> {
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((s) => s.size, () => null);
  if (size === null) throw notFound(`there is no evidence log at ${file}`, 'run it where the evidence is, or pass --evidence-dir');
  let chainId: string | null = null;
  let last = 0;
  const own: EvidenceRecord[] = [];
  for await (const line of readLines(file, size)) {
    const record = parse(line.bytes, line.terminated);
    if (!record) continue;
    if (record.seq === 1) chainId = record.hash;
    if (record.rotationId === rotationId) own.push(record);
    last = Math.max(last, record.seq);
  }
  if (own.length === 0) throw notFound(`no evidence record has rotationId ${rotationId}`, 'rotation ids are in `keyshift rotate --json` output and in evidence.jsonl');
  if (!chainId) throw new KeyshiftError('ERR_EVIDENCE_BROKEN', `${file} has no valid first record`, { exitCode: 1, hint: 'run keyshift evidence verify' });
  const from = Math.min(...own.map((r) => r.seq));
  const lastOwn = Math.max(...own.map((r) => r.seq));
  const anchor = anchors.filter((a) => a.chainId === chainId && a.seq >= lastOwn && a.seq <= last).sort((a, b) => a.seq - b.seq)[0];
  if (!anchor) {
    throw new KeyshiftError('ERR_NO_ANCHOR', `no store anchor of this log covers rotation ${rotationId} (its records end at seq ${lastOwn})`, {
      exitCode: 1,
      hint: 'anchors are written at the end of each run; check `keyshift evidence anchors` and that -p names the policies whose stores this log belongs to',
    });
  }
  const proof: EvidenceRecord[] = [];
  for await (const line of readLines(file, size)) {
    const record = parse(line.bytes, line.terminated);
    if (record && record.seq >= from && record.seq <= anchor.seq) proof.push(record);
    if (record && record.seq >= anchor.seq) break;
  }
  return {
    format: EXPORT_FORMAT,
    exportedAt: now.toISOString(),
    rotationId,
    ...describe(own),
    records: own,
    proof: { chainId, from, to: anchor.seq, anchor, records: proof },
  };
}

export type ExportCheck =
  | { ok: true; rotationId: string; secret: string; records: number; from: number; to: number; anchor: AnchorCandidate }
  | { ok: false; problem: string };

/** Checks an export on its own: the hashes, the links to the anchor, that the records are in the proof, and that the secret, environments and summary are the ones the records give. */
export function verifyExport(document: unknown): ExportCheck {
  const fail = (problem: string): ExportCheck => ({ ok: false, problem });
  const doc = document as Partial<EvidenceExport> | null;
  if (!doc || typeof doc !== 'object' || doc.format !== EXPORT_FORMAT) return fail(`not a keyshift evidence export (format is not "${EXPORT_FORMAT}")`);
  const proof = doc.proof;
  if (!proof || !Array.isArray(proof.records) || !proof.anchor || !Array.isArray(doc.records) || doc.records.length === 0) {
    return fail('proof, proof.records, proof.anchor or records is missing');
  }
  let prev: EvidenceRecord | null = null;
  for (const record of proof.records) {
    const where = `proof record seq ${String(record?.seq)}`;
    if (!record || typeof record !== 'object' || !Number.isSafeInteger(record.seq)) return fail('a proof record has no seq');
    if (!isHash(record.hash) || recordHash(record as unknown as Record<string, unknown>) !== record.hash) return fail(`${where}: hash mismatch, the record was edited`);
    const shape = recordShapeProblem(record as unknown as Record<string, unknown>);
    if (shape) return fail(`${where}: ${shape}`);
    if (prev && record.seq !== prev.seq + 1) return fail(`${where} follows seq ${prev.seq}: a record is missing from the proof`);
    if (prev && record.prevHash !== prev.hash) return fail(`${where}: prevHash is not the hash of seq ${prev.seq}`);
    if (!prev && record.seq === 1 && (record.prevHash !== ZERO_HASH || record.hash !== proof.chainId)) return fail('the proof starts at seq 1 but is not the chain it names');
    prev = record;
  }
  if (!prev) return fail('the proof has no records');
  if (proof.records[0]?.seq !== proof.from || prev.seq !== proof.to) return fail(`the proof's records do not run from seq ${proof.from} to seq ${proof.to}`);
  if (prev.seq !== proof.anchor.seq || prev.hash !== proof.anchor.hash || proof.anchor.chainId !== proof.chainId) {
    return fail(`the proof ends at seq ${prev.seq} ${prev.hash}, not at the anchor (seq ${proof.anchor.seq} ${proof.anchor.hash})`);
  }
  const inProof = new Map(proof.records.map((r) => [r.seq, r.hash]));
  for (const record of doc.records) {
    if (record?.rotationId !== doc.rotationId) return fail(`record seq ${String(record?.seq)} is not of rotation ${String(doc.rotationId)}`);
    if (inProof.get(record.seq) !== record.hash || recordHash(record as unknown as Record<string, unknown>) !== record.hash) {
      return fail(`record seq ${record.seq} is not the one in the proof: it was edited`);
    }
  }
  const own = proof.records.filter((r) => r.rotationId === doc.rotationId).length;
  if (own !== doc.records.length) return fail(`the proof holds ${own} record(s) of rotation ${doc.rotationId} but the export lists ${doc.records.length}: one was left out`);
  if (doc.records.some((r, i) => i > 0 && r.seq <= (doc.records?.[i - 1]?.seq ?? 0))) return fail('the records are not in the order of the log');
  // What a reader sees first (secret, environments, summary) is derived from the records: it must agree with them.
  const expected = describe(doc.records);
  for (const field of ['secret', 'environments', 'summary'] as const) {
    if (canonicalJson(doc[field] ?? null) !== canonicalJson(expected[field])) return fail(`the export's ${field} does not match its records: it was edited`);
  }
  return { ok: true, rotationId: doc.rotationId as string, secret: String(doc.secret), records: doc.records.length, from: proof.from, to: proof.to, anchor: proof.anchor };
}

/** The parts of an export derived from the rotation's records (in log order). */
function describe(own: EvidenceRecord[]): Pick<EvidenceExport, 'secret' | 'environments' | 'summary'> {
  const first = own[0] as EvidenceRecord;
  return {
    secret: first.secret,
    environments: [...new Set(own.map((r) => r.environment))],
    summary: {
      operator: [...new Set(own.map((r) => r.operator))],
      reason: first.reason,
      ticket: first.ticket,
      emergency: own.some((r) => r.emergency),
      fromVersion: first.fromVersion,
      toVersion: first.toVersion,
      fingerprints: [...new Set(own.flatMap((r) => (r.fingerprint ? [r.fingerprint] : [])))],
      checks: own.flatMap((r) => r.checks),
      events: own.map((r) => ({ seq: r.seq, at: r.at, event: r.event, environment: r.environment })),
    },
  };
}

function parse(bytes: Buffer, terminated: boolean): EvidenceRecord | null {
  if (!terminated) return null;
  try {
    const record = JSON.parse(bytes.toString('utf8')) as EvidenceRecord;
    return record && typeof record === 'object' && Number.isSafeInteger(record.seq) && isHash(record.hash) ? record : null;
  } catch {
    return null;
  }
}

function notFound(message: string, hint: string): KeyshiftError {
  return new KeyshiftError('ERR_NOT_FOUND', message, { exitCode: 2, hint });
}
