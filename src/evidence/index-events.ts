import { promises as fs } from 'node:fs';
import { evidenceFile, readLines } from './log-file.js';

const ROTATION_ID_KEY = Buffer.from('"rotationId":');

/**
 * Which events of the given rotations are already in the log, as `${rotationId}|${event}|${environment}`.
 * After a crash the engine re-appends the events whose store write happened but whose evidence line
 * did not. One streaming pass; a line is parsed only when its rotationId is one we look for.
 */
export async function findLoggedEvents(dir: string, rotationIds: Set<string>): Promise<Set<string>> {
  const found = new Set<string>();
  const file = evidenceFile(dir);
  if (rotationIds.size === 0) return found;
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null) return found;

  for await (const line of readLines(file, size)) {
    if (!line.terminated || !mentionsOneOf(line.bytes, rotationIds)) continue;
    const record = parse(line.bytes);
    // Exact check on the parsed record: the cheap scan above may match inside another field.
    if (record && typeof record.rotationId === 'string' && rotationIds.has(record.rotationId)) {
      found.add(`${record.rotationId}|${String(record.event)}|${String(record.environment)}`);
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
