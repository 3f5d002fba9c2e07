import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Value-file directories are named after the keyshift process that made them. */
export const VALUE_DIR_PREFIX = `keyshift-hook-${process.pid}-`;

const PATTERN = /^keyshift-hook-(\d+)-/;
let swept = false;

/**
 * A keyshift killed while a hook ran (kill -9) cannot remove the hook's value file. Once per
 * process, before its first hook, remove the value directories of keyshift processes that are gone.
 */
export async function removeStaleValueFiles(): Promise<void> {
  if (swept) return;
  swept = true;
  const names = await fs.readdir(tmpdir()).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (name) => {
      const pid = Number(PATTERN.exec(name)?.[1]);
      if (!pid || pid === process.pid || isAlive(pid)) return;
      await fs.rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
