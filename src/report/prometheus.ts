import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StatusFacts } from './model.js';

/**
 * Metrics in the Prometheus text format for node_exporter's textfile collector, with the names of
 * the v2 contract. A secret never provisioned has no age, due time or last success, only overdue 1.
 */
export function prometheusText(rows: StatusFacts[], failures: Map<string, number>, now: Date, key: (s: string, e: string) => string): string {
  const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);
  const metrics: Array<[string, string, string, (r: StatusFacts) => number | null]> = [
    ['keyshift_secret_age_seconds', 'gauge', 'Seconds since the current value became CURRENT (last switch or provision).', (r) => (r.lastRotatedAt ? Math.floor((now.getTime() - Date.parse(r.lastRotatedAt)) / 1000) : null)],
    ['keyshift_secret_next_due_timestamp_seconds', 'gauge', 'When the next rotation is due (Unix time).', (r) => (r.nextDueAt ? seconds(r.nextDueAt) : null)],
    ['keyshift_secret_overdue', 'gauge', '1 when the secret is past its rotation interval or was never provisioned, else 0.', (r) => (r.overdue ? 1 : 0)],
    ['keyshift_rotation_last_success_timestamp_seconds', 'gauge', 'When the last rotation (switch or provision) completed (Unix time).', (r) => (r.lastRotatedAt ? seconds(r.lastRotatedAt) : null)],
    ['keyshift_rotation_failures_total', 'counter', 'Failed rotation steps recorded in the evidence log.', (r) => failures.get(key(r.secret, r.environment)) ?? 0],
  ];
  const lines: string[] = [];
  for (const [name, type, help, value] of metrics) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const r of rows) {
      const v = value(r);
      if (v !== null) lines.push(`${name}{secret="${label(r.secret)}",environment="${label(r.environment)}"} ${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Temp file in the same directory, fsync, rename: the collector never reads half a file. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await fs.open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

const label = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
