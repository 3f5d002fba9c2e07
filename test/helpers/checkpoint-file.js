// The rollback checkpoint file (src/evidence/state-checkpoint.ts, format 2) as one object, for tests
// that edit it: { format, chainId, seq, hash, end, targets: [[key, row], …] }, the header line's
// `targets` (a count) replaced by the target lines.
import { readFileSync, writeFileSync } from 'node:fs';

export function readCheckpointFile(file) {
  const [header, ...lines] = readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
  return { ...JSON.parse(header), targets: lines.map((line) => JSON.parse(line)) };
}

/** Writes it back; `targets` not a list (a test of a damaged header) is written as the count. */
export function writeCheckpointFile(file, checkpoint) {
  const { targets, ...header } = checkpoint;
  const rows = Array.isArray(targets) ? targets : [];
  const lines = [JSON.stringify({ ...header, targets: Array.isArray(targets) ? rows.length : targets }), ...rows.map((row) => JSON.stringify(row))];
  writeFileSync(file, `${lines.join('\n')}\n`);
}
