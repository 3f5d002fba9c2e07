import { createHmac, randomBytes } from 'node:crypto';
import type { EntryMeta, RetiredVersion, Stage, StoreMeta } from '../contract.js';
import { emptyStoreMeta } from '../contract.js';

/**
 * The sidecar `<path>.keyshift.json` beside a .env file: keyshift's state of each variable (versions,
 * rotation record, evidence drafts) and the store meta — never a value. Each version carries a
 * short keyed check of its value, so a reader can tell which of two states the .env file is in
 * after a crash between the sidecar write and the .env write (see dotenv-store.ts).
 */

export const SIDECAR_FORMAT = 1;

export interface SidecarVersion {
  id: string;
  stages: Stage[];
  createdAt: string;
  /** First 8 hex digits of HMAC-SHA256(checkKey, value): enough to tell two values apart, too short to confirm a guess. */
  check: string;
}

export interface SidecarState extends EntryMeta {
  versions: SidecarVersion[];
  retired: RetiredVersion[];
}

export interface SidecarEntry {
  /** The state this write made. */
  state: SidecarState;
  /** The state before it (null: the variable was new), in effect if the .env write did not land. */
  prior: SidecarState | null;
}

export interface Sidecar {
  keyshift: 'dotenv-state';
  format: number;
  /** Key of the value checks (random per file; it protects nothing the .env beside it does not show). */
  checkKey: string;
  entries: Record<string, SidecarEntry>;
  meta: StoreMeta;
}

export function emptySidecar(): Sidecar {
  return { keyshift: 'dotenv-state', format: SIDECAR_FORMAT, checkKey: randomBytes(16).toString('base64'), entries: {}, meta: emptyStoreMeta() };
}

/** Parses the sidecar text; a string naming what is wrong when it is not one keyshift wrote. */
export function parseSidecar(text: string): Sidecar | string {
  let parsed: Partial<Sidecar>;
  try {
    parsed = JSON.parse(text) as Partial<Sidecar>;
  } catch {
    return 'it is not JSON';
  }
  if (parsed?.keyshift !== 'dotenv-state') return 'it is not a keyshift dotenv state file';
  if (parsed.format !== SIDECAR_FORMAT) return `it has format ${String(parsed.format)}, this keyshift reads format ${SIDECAR_FORMAT} (upgrade keyshift)`;
  if (typeof parsed.checkKey !== 'string' || typeof parsed.entries !== 'object' || parsed.entries === null) return 'it lacks checkKey or entries';
  return { ...(parsed as Sidecar), meta: { ...emptyStoreMeta(), ...parsed.meta } };
}

export function valueCheck(checkKey: string, value: Buffer): string {
  return createHmac('sha256', Buffer.from(checkKey, 'base64')).update(value).digest('hex').slice(0, 8);
}

/** One line per entry (readable diffs, and a write re-encodes only what changed); valid JSON. */
export function formatSidecar(sidecar: Sidecar, entryText: Map<string, string>): string {
  const head = JSON.stringify({ keyshift: sidecar.keyshift, format: sidecar.format, checkKey: sidecar.checkKey, meta: sidecar.meta });
  const entries: string[] = [];
  for (const [key, text] of entryText) entries.push(`${JSON.stringify(key)}:${text}`);
  return `${head.slice(0, -1)},"entries":{\n${entries.join(',\n')}\n}}\n`;
}
