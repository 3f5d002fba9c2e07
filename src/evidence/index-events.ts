import { promises as fs } from 'node:fs';
import type { EvidenceDraft } from '../stores/contract.js';
import { evidenceFile, readLines } from './log-file.js';

const ROTATION_ID_KEY = Buffer.from('"rotationId":');

/**
 * Which events of the given rotations are already in the log, as `${rotationId}|${event}|${environment}`.
 * After a crash the engine re-appends the events whose store write happened but whose evidence line
 * did not. One streaming pass; a line is parsed only when its rotationId is one we look for.
 */
export async function findLoggedEvents(dir: string, rotationIds: Set<string>): Promise<Set<string>> {
  return scanLogged(dir, rotationIds, new Set());
}

/**
 * How a draft and its record are matched: a rotation's event by rotation, event and environment; an
 * event outside any rotation (rotationId null: a doctor repair) by its run, event, secret,
 * environment and checks, which no other record of that run repeats.
 */
export function loggedKey(record: Pick<EvidenceDraft, 'rotationId' | 'event' | 'environment'> | Record<string, unknown>): string {
  const r = record as Record<string, unknown>;
  if (typeof r.rotationId === 'string') return `${r.rotationId}|${String(r.event)}|${String(r.environment)}`;
  return `run:${String(r.runId)}|${String(r.event)}|${String(r.secret)}|${String(r.environment)}|${JSON.stringify(r.checks ?? [])}`;
}

/** The loggedKey of each of `drafts` that the log holds: what recovery must not append again. */
export async function findLoggedDrafts(dir: string, drafts: EvidenceDraft[]): Promise<Set<string>> {
  const rotationIds = new Set<string>();
  const runIds = new Set<string>();
  for (const draft of drafts) {
    if (typeof draft.rotationId === 'string') rotationIds.add(draft.rotationId);
    else runIds.add(draft.runId);
  }
  return scanLogged(dir, rotationIds, runIds);
}

async function scanLogged(dir: string, rotationIds: Set<string>, runIds: Set<string>): Promise<Set<string>> {
  const found = new Set<string>();
  if (rotationIds.size === 0 && runIds.size === 0) return found;
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null) return found;
  const runNeedles = [...runIds].map((id) => Buffer.from(`"runId":${JSON.stringify(id)}`));
  for await (const line of readLines(file, size)) {
    if (!line.terminated) continue;
    if (!mentionsOneOf(line.bytes, rotationIds) && !runNeedles.some((needle) => line.bytes.indexOf(needle) >= 0)) continue;
    const record = parse(line.bytes);
    // Exact check on the parsed record: the cheap scan above may match inside another field.
    if (!record) continue;
    if (typeof record.rotationId === 'string' ? rotationIds.has(record.rotationId) : record.rotationId === null && runIds.has(record.runId as string)) {
      found.add(loggedKey(record));
    }
  }
  return found;
}

/**
 * Cheap pre-filter without decoding the line: the raw value after each `"rotationId":`. Anything
 * unusual (spaces, escapes — never written by keyshift) is left to the exact check.
 */
function mentionsOneOf(bytes: Buffer, ids: Set<string>): boolean {
  for (let at = bytes.indexOf(ROTATION_ID_KEY); at >= 0; at = bytes.indexOf(ROTATION_ID_KEY, at + 1)) {
    const start = at + ROTATION_ID_KEY.length;
    if (bytes[start] === 0x6e) continue; // null: an event outside any rotation
    if (bytes[start] !== 0x22) return true;
    const end = bytes.indexOf(0x22, start + 1);
    if (end < 0) return true;
    const raw = bytes.toString('utf8', start + 1, end);
    if (raw.includes('\\') || ids.has(raw)) return true;
  }
  return false;
}

function parse(bytes: Buffer): Record<string, unknown> | null {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Whether the log holds a record of run `runId` with every one of `fields` (compared as JSON
 * values): a step that saved its record before appending it, killed before noting the append,
 * looks here so that it is appended once. One streaming pass; a line is parsed only when it
 * names the run.
 */
export async function isRecordLogged(dir: string, runId: string, fields: Record<string, unknown>): Promise<boolean> {
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null) return false;
  const needle = Buffer.from(`"runId":${JSON.stringify(runId)}`);
  for await (const line of readLines(file, size)) {
    if (!line.terminated || line.bytes.indexOf(needle) < 0) continue;
    const record = parse(line.bytes);
    if (record && record.runId === runId && Object.entries(fields).every(([k, v]) => JSON.stringify(record[k]) === JSON.stringify(v))) return true;
  }
  return false;
}
