import { promises as fs } from 'node:fs';
import { evidenceFile, readLines } from './log-file.js';
import { targetKey } from './expected-state.js';

/**
 * When each secret/environment was last recorded in a log. With several logs (runners, or runs
 * with their own --evidence-dir), a store is judged by the log that recorded it last: an older
 * log's view of it is history, not a rollback.
 */
export async function lastRecordedAt(dir: string): Promise<Map<string, string>> {
  const last = new Map<string, string>();
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((stat) => stat.size, () => null);
  if (size === null) return last;
  for await (const line of readLines(file, size)) {
    if (!line.terminated) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line.bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof record?.secret !== 'string' || typeof record.environment !== 'string' || typeof record.at !== 'string') continue;
    const key = targetKey(record.secret, record.environment);
    if ((last.get(key) ?? '') < record.at) last.set(key, record.at);
  }
  return last;
}
