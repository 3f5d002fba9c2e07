import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { inspectFileLock } from '../util/file-lock.js';
import { evidenceFile, readLines } from '../evidence/log-file.js';
import { ChainVerifier, NOT_JSON, parseLine, type EvidenceAnchorRef, type VerifyResult } from '../evidence/verify.js';

/**
 * The evidence log read for reporting: per secret and environment, what happened when. Unlike
 * `evidence verify` it does not stop at a damaged line: it notes the line and reads on, so a report
 * over a damaged log still shows everything it can and marks its coverage incomplete.
 */

export interface RotationEvents {
  rotationId: string;
  /** Event name → time of its first record (ms since the epoch). */
  at: Partial<Record<string, number>>;
  emergency: boolean;
  failed: boolean;
}

export interface TargetHistory {
  /** Times the value changed: `provisioned` and `switched` records, in log order. */
  changes: Array<{ at: number; event: 'provisioned' | 'switched'; rotationId: string | null; emergency: boolean }>;
  rotations: Map<string, RotationEvents>;
  /** `failed` records without a rotation id: attempts that failed before a rotation started (a value rejected by validate:, a failed generator). */
  unstarted: Array<{ at: number; emergency: boolean }>;
}

export interface DamagedLine {
  line: number;
  problem: string;
}

export interface EvidenceHistory {
  file: string;
  exists: boolean;
  records: number;
  damaged: DamagedLine[];
  /** `secret\0environment` → history. */
  targets: Map<string, TargetHistory>;
}

export const targetKey = (secret: string, environment: string): string => `${secret}\u0000${environment}`;

/** At most this many damaged lines are listed; the count goes on. */
const MAX_LISTED = 20;

/**
 * The history and the chain check of the log in one streaming pass: each line is read and parsed
 * once, the chain verified on the same parsed record (read-only, as `doctor` does: no lock taken,
 * a live writer's append in progress is skipped).
 */
export async function readHistory(dir: string, anchors: EvidenceAnchorRef[] = []): Promise<{ history: EvidenceHistory; verified: VerifyResult }> {
  const file = evidenceFile(dir);
  const history: EvidenceHistory = { file, exists: false, records: 0, damaged: [], targets: new Map() };
  const chain = new ChainVerifier(anchors);
  const size = await fs.stat(file).then((s) => s.size, () => null);
  if (size === null) return { history, verified: chain.result() };
  history.exists = true;
  let damagedCount = 0;
  const damage = (line: number, problem: string) => {
    damagedCount += 1;
    if (history.damaged.length < MAX_LISTED) history.damaged.push({ line, problem });
  };
  for await (const line of readLines(file, size)) {
    if (!line.terminated && !line.tooLong && (await inspectFileLock(join(dir, 'evidence.lock'))).state === 'live') continue;
    const parsed = parseLine(line);
    chain.add(line, parsed);
    if (line.tooLong) {
      damage(line.number, 'longer than 1 MiB: not a keyshift record (the rest of the file is not read)');
      break;
    }
    if (!line.terminated) {
      damage(line.number, 'incomplete (no newline at the end): the log was cut or a write was interrupted');
      continue;
    }
    if (parsed === NOT_JSON) {
      damage(line.number, 'not valid JSON');
      continue;
    }
    const useful = usefulFields(parsed);
    if (typeof useful === 'string') {
      damage(line.number, useful);
      continue;
    }
    history.records += 1;
    add(history.targets, useful);
  }
  if (damagedCount > history.damaged.length) history.damaged.push({ line: 0, problem: `and ${damagedCount - history.damaged.length} more damaged line(s)` });
  return { history, verified: chain.result() };
}

interface UsefulRecord {
  /** ms since the epoch */
  at: number;
  event: string;
  rotationId: string | null;
  secret: string;
  environment: string;
  emergency: boolean;
}

/** The fields a report needs, or why the record lacks them. */
function usefulFields(record: unknown): UsefulRecord | string {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return 'not a JSON object';
  const r = record as Record<string, unknown>;
  if (typeof r.secret !== 'string' || typeof r.environment !== 'string' || typeof r.event !== 'string') return 'secret, environment or event is missing';
  const at = typeof r.at === 'string' ? Date.parse(r.at) : Number.NaN;
  if (Number.isNaN(at)) return 'field "at" is not an ISO 8601 time';
  if (r.rotationId !== null && r.rotationId !== undefined && typeof r.rotationId !== 'string') return 'field "rotationId" is not a string';
  return { at, event: r.event, rotationId: (r.rotationId as string | null | undefined) ?? null, secret: r.secret, environment: r.environment, emergency: r.emergency === true };
}

function add(targets: Map<string, TargetHistory>, record: UsefulRecord): void {
  const key = targetKey(record.secret, record.environment);
  let target = targets.get(key);
  if (!target) {
    target = { changes: [], rotations: new Map(), unstarted: [] };
    targets.set(key, target);
  }
  const { at, emergency } = record;
  if (record.event === 'provisioned' || record.event === 'switched') {
    target.changes.push({ at, event: record.event, rotationId: record.rotationId, emergency });
  }
  if (!record.rotationId && record.event === 'failed') target.unstarted.push({ at, emergency });
  // A re-wrap's id only ties its draft to its record (recovery): it is not a rotation.
  if (!record.rotationId || record.event === 'repaired' || record.event === 'data-key-rewrapped') return;
  let rotation = target.rotations.get(record.rotationId);
  if (!rotation) {
    rotation = { rotationId: record.rotationId, at: {}, emergency: false, failed: false };
    target.rotations.set(record.rotationId, rotation);
  }
  rotation.at[record.event] ??= at;
  if (emergency) rotation.emergency = true;
  if (record.event === 'failed') rotation.failed = true;
}

/**
 * Failed-step records per `secret\0environment`, for the failures counter. Only lines that mention
 * the event are parsed, so a monitor's `check` reads a large log quickly.
 */
export async function countFailures(dir: string): Promise<Map<string, number>> {
  const file = evidenceFile(dir);
  const counts = new Map<string, number>();
  const size = await fs.stat(file).then((s) => s.size, () => null);
  if (size === null) return counts;
  const needle = Buffer.from('"event":"failed"');
  for await (const line of readLines(file, size)) {
    if (!line.terminated || line.bytes.indexOf(needle) < 0) continue;
    try {
      const record = JSON.parse(line.bytes.toString('utf8')) as { secret?: unknown; environment?: unknown; event?: unknown };
      if (record.event !== 'failed' || typeof record.secret !== 'string' || typeof record.environment !== 'string') continue;
      const key = targetKey(record.secret, record.environment);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      // a damaged line: `report` and `evidence verify` name it; a counter just skips it
    }
  }
  return counts;
}
