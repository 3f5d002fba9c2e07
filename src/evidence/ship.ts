import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, KeyshiftError, usageError } from '../errors.js';
import { fsyncDir } from '../util/file-io.js';
import { evidenceFile, readLines } from './log-file.js';
import { ZERO_HASH } from './record.js';
import { verifyEvidence } from './verify.js';
import type { S3Target } from './ship-s3.js';

/**
 * `evidence ship --to s3://bucket/prefix/`: copies the records not shipped yet to S3, one object
 * per ship, under `<prefix><YYYY>/<MM>/`. The local log stays the source of truth; the bucket gets
 * copies that Object Lock keeps from being changed or deleted.
 *
 * Never lost, never twice: an object holds the records from one seq to another, and its key is
 * derived from the chain and its first seq (the month is that record's), so a ship that died after
 * its upload and before it remembered it finds the object at the same key on its next run (HEAD),
 * adopts it instead of uploading those records again, and goes on from its last seq. Uploads use
 * If-None-Match: *, so two ships at once cannot both write a key. What was shipped is remembered in
 * `<evidence dir>/shipped.json`, only after S3 confirmed the upload.
 */

export interface ShipDestination {
  url: string;
  bucket: string;
  prefix: string;
}

export interface ShippedPart {
  key: string;
  from: number;
  to: number;
  records: number;
  versionId: string | null;
  /** Shipped by an earlier `evidence ship` that ended before it could remember it. */
  adopted: boolean;
  retention: { mode: string; until: string } | null;
}

export interface ShipResult {
  to: string;
  chainId: string | null;
  objects: ShippedPart[];
  /** The last record the bucket holds a copy of after this run. */
  shipped: { seq: number; hash: string } | null;
  objectLock: 'retained' | 'bucket-default' | 'none' | 'unknown';
}

interface Remembered {
  chainId: string;
  seq: number;
  hash: string;
  key: string;
  at: string;
}

export const SHIP_STATE = 'shipped.json';

export function parseDestination(to: string): ShipDestination {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(to);
  if (!match) throw usageError(`--to "${to}" is not an S3 URL`, 'e.g. --to s3://audit-evidence/keyshift/ (a bucket name of 3-63 lowercase letters, digits, dots and hyphens, then an optional prefix)');
  const rest = match[2] ?? '';
  const prefix = rest === '' || rest.endsWith('/') ? rest : `${rest}/`;
  return { url: `s3://${match[1]}/${prefix}`, bucket: match[1] as string, prefix };
}

export async function shipEvidence(dir: string, dest: ShipDestination, s3: S3Target, options: { now: Date; retainMs?: number; warn: (message: string) => void }): Promise<ShipResult> {
  // Checked before anything is uploaded: --retain needs a bucket with Object Lock.
  const lock = await s3.objectLock(dest.bucket);
  if (options.retainMs !== undefined && lock && !lock.enabled) {
    throw new KeyshiftError('ERR_SHIP_NO_OBJECT_LOCK', `--retain: bucket ${dest.bucket} does not have S3 Object Lock enabled, so nothing can be retained; nothing was uploaded`, {
      exitCode: ExitCode.usage,
      hint: 'ship to a bucket created with Object Lock (aws s3api create-bucket --object-lock-enabled-for-bucket), or leave out --retain',
    });
  }
  const objectLock = options.retainMs !== undefined ? 'retained' : lock === null ? 'unknown' : lock.enabled && lock.defaultRetention ? 'bucket-default' : 'none';
  if (objectLock === 'none') options.warn(`bucket ${dest.bucket} ${lock?.enabled ? 'has Object Lock but no default retention' : 'has no Object Lock'}: the shipped copies can be changed or deleted; pass --retain 365d to a bucket with Object Lock`);

  const verified = await verifyEvidence(dir);
  if (!verified.ok) {
    throw new KeyshiftError('ERR_EVIDENCE_BROKEN', `${evidenceFile(dir)}:${verified.line}: ${verified.problem}; nothing was shipped`, {
      hint: 'run keyshift evidence verify; a broken log is never shipped (restore it from a backup or from the copies already shipped)',
    });
  }
  const head = verified.head;
  const remembered = await readRemembered(dir, dest.url);
  if (!head) return { to: dest.url, chainId: null, objects: [], shipped: null, objectLock };
  let shipped = remembered && remembered.chainId === head.chainId ? { seq: remembered.seq, hash: remembered.hash } : null;
  if (shipped && shipped.seq > head.seq) {
    throw new KeyshiftError('ERR_SHIP_MISMATCH', `${dest.url} holds seq 1..${shipped.seq} of this log but the log ends at seq ${head.seq}: records were removed from it after they were shipped`, {
      hint: 'restore the log from the shipped copies (they are the records as they were) and run keyshift evidence verify',
    });
  }
  const objects: ShippedPart[] = [];
  while ((shipped?.seq ?? 0) < head.seq) {
    const from = (shipped?.seq ?? 0) + 1;
    const lines = await readSegment(dir, from, head.seq);
    if (shipped && lines.prevHash !== shipped.hash) {
      throw new KeyshiftError('ERR_SHIP_MISMATCH', `record seq ${from} of ${evidenceFile(dir)} does not follow the seq ${shipped.seq} already shipped to ${dest.url}: the log was rewritten after it was shipped`, {
        hint: 'compare the log with the shipped copies; keyshift never ships over them',
      });
    }
    const key = objectKey(dest, head.chainId, from, lines.firstAt);
    const existing = await s3.head(dest.bucket, key);
    const part = existing ? adopt(existing, key, from, lines) : await upload(s3, dest, key, head.chainId, from, lines, options);
    if (!part) {
      // Another ship created the key between our HEAD and PUT: read what it holds, like a crash's.
      const raced = await s3.head(dest.bucket, key);
      if (!raced) throw new KeyshiftError('ERR_SHIP_FAILED', `s3://${dest.bucket}/${key}: refused as existing, then not found`, { hint: 'rerun keyshift evidence ship' });
      objects.push(adopt(raced, key, from, lines));
    } else objects.push(part);
    const last = objects.at(-1) as ShippedPart;
    shipped = { seq: last.to, hash: lines.hashes.get(last.to) as string };
    await remember(dir, dest.url, { chainId: head.chainId, seq: shipped.seq, hash: shipped.hash, key, at: options.now.toISOString() });
  }
  return { to: dest.url, chainId: head.chainId, objects, shipped, objectLock };
}

interface Segment {
  body: Buffer;
  prevHash: string;
  firstAt: string;
  hashes: Map<number, string>;
}

async function upload(s3: S3Target, dest: ShipDestination, key: string, chainId: string, from: number, segment: Segment, options: { now: Date; retainMs?: number }): Promise<ShippedPart | null> {
  const to = from + segment.hashes.size - 1;
  const retention = options.retainMs === undefined ? null : { mode: 'COMPLIANCE' as const, until: new Date(options.now.getTime() + options.retainMs) };
  const metadata = {
    'keyshift-chain-id': chainId,
    'keyshift-from-seq': String(from),
    'keyshift-to-seq': String(to),
    'keyshift-prev-hash': segment.prevHash,
    'keyshift-to-hash': segment.hashes.get(to) as string,
  };
  const put = await s3.putNew(dest.bucket, key, segment.body, metadata, retention);
  if (!put.created) return null;
  return { key, from, to, records: to - from + 1, versionId: put.versionId, adopted: false, retention: retention ? { mode: retention.mode, until: retention.until.toISOString() } : null };
}

/** An object an earlier ship uploaded at this key: it must hold this log's records from `from` on. */
function adopt(existing: { metadata: Record<string, string>; versionId: string | null; retainUntil: string | null; mode: string | null }, key: string, from: number, segment: Segment): ShippedPart {
  const to = Number(existing.metadata['keyshift-to-seq']);
  const hash = existing.metadata['keyshift-to-hash'];
  // It must end at a record of this segment with that record's hash: one without a hash is no copy.
  if (hash === undefined || segment.hashes.get(to) !== hash) {
    throw new KeyshiftError('ERR_SHIP_MISMATCH', `${key} already exists but is not a copy of this log's records from seq ${from} (it ends at seq ${existing.metadata['keyshift-to-seq'] ?? '?'} with another hash): the log was rewritten after it was shipped, or another log uses this prefix`, {
      hint: 'give each evidence log its own --to prefix; compare the log with the shipped copy',
    });
  }
  return { key, from, to, records: to - from + 1, versionId: existing.versionId, adopted: true, retention: existing.mode && existing.retainUntil ? { mode: existing.mode, until: existing.retainUntil } : null };
}

function objectKey(dest: ShipDestination, chainId: string, from: number, firstAt: string): string {
  const at = new Date(firstAt);
  const month = `${at.getUTCFullYear()}/${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
  return `${dest.prefix}${month}/evidence-${chainId.replace(/^sha256:/, '').slice(0, 16)}-${String(from).padStart(12, '0')}.jsonl`;
}

/** The lines of seq `from`..`to` exactly as the log holds them (the chain verified them just now). */
async function readSegment(dir: string, from: number, to: number): Promise<Segment> {
  const file = evidenceFile(dir);
  const size = (await fs.stat(file)).size;
  const parts: Buffer[] = [];
  const hashes = new Map<number, string>();
  let prevHash = ZERO_HASH;
  let firstAt = '';
  for await (const line of readLines(file, size)) {
    if (!line.terminated) break;
    const record = JSON.parse(line.bytes.toString('utf8')) as { seq: number; hash: string; prevHash: string; at: string };
    if (record.seq < from) continue;
    if (record.seq > to) break;
    if (record.seq === from) {
      prevHash = record.prevHash;
      firstAt = record.at;
    }
    parts.push(line.bytes, Buffer.from('\n'));
    hashes.set(record.seq, record.hash);
  }
  return { body: Buffer.concat(parts), prevHash, firstAt, hashes };
}

async function readRemembered(dir: string, url: string): Promise<Remembered | null> {
  const text = await fs.readFile(join(dir, SHIP_STATE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (text === null) return null;
  try {
    const found = (JSON.parse(text) as { destinations?: Record<string, Remembered> }).destinations?.[url];
    return found && Number.isSafeInteger(found.seq) && typeof found.hash === 'string' ? found : null;
  } catch {
    return null; // a damaged state file only costs a HEAD per shipped object: they are found again
  }
}

/** Written atomically (temp file, fsync, rename): a crash leaves the old state or the new one. */
async function remember(dir: string, url: string, entry: Remembered): Promise<void> {
  const file = join(dir, SHIP_STATE);
  // A missing or damaged state file is replaced (readRemembered ignored it too).
  const current = await fs.readFile(file, 'utf8').then((t) => JSON.parse(t) as { destinations?: Record<string, Remembered> } | null).catch(() => null);
  const next = { version: 1, destinations: { ...current?.destinations, [url]: entry } };
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(next, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  await fsyncDir(dir);
}
