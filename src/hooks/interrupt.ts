import { rmSync } from 'node:fs';

/**
 * Hooks run in their own process group (so a timeout kills the whole tree), which also means a
 * Ctrl-C at the terminal does not reach them. The CLI calls `abortRunningHooks` when keyshift is
 * interrupted: the hooks' groups get SIGTERM and their value files are removed at once.
 */
const groups = new Set<number>();
const valueDirs = new Set<string>();

export const trackGroup = (pid: number): void => void groups.add(pid);
export const untrackGroup = (pid: number): void => void groups.delete(pid);
export const trackValueDir = (dir: string): void => void valueDirs.add(dir);
export const untrackValueDir = (dir: string): void => void valueDirs.delete(dir);

export function abortRunningHooks(): void {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const dir of valueDirs) rmSync(dir, { recursive: true, force: true });
  groups.clear();
  valueDirs.clear();
}
