import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * What makes a pid in a lock file mean one process and not another. A pid names a process only
 * within one boot of one machine and one pid namespace (containers sharing a volume, or a host name,
 * have their own); and a pid is reused once its process has exited. Linux tells both apart through
 * /proc; elsewhere these return null and a lock is judged by host name and pid alone.
 */

let scope: string | null | undefined;
let host: string | undefined;

/** This machine's host name, asked of the system once (a uname call each time otherwise: one per secret of a run). */
export function hostName(): string {
  return (host ??= hostname());
}

/** This boot and pid namespace, e.g. "2108eb47-…/pid:[4026531836]"; null where /proc has no such files. */
export function pidScope(): string | null {
  if (scope === undefined) {
    try {
      scope = `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      scope = null;
    }
  }
  return scope;
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); null if unknown. */
export function processStart(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[19]; // field 22 counted from field 3
  return start && /^\d+$/.test(start) ? start : null;
}
