// The floor of a local-store rotation run: a bare loop of the cryptography and fsyncs the run made
// (counted by bench/op-probe.js), with nothing else: no JSON, no policies, no engine. Run in the
// benchmark's own process, on the same file system as the store.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Seconds the counted work takes alone: `encrypt`/`decrypt` AES-256-GCM records of the run's mean
 * size (60 bytes of AAD each, as a store record), `hmac` HMAC-SHA256 of a 44-byte value, and
 * `fsync` appends of 4 KiB each followed by an fsync, in a temporary file under `dir`.
 * @param {{encrypt: number, encryptBytes: number, decrypt: number, decryptBytes: number, hmac: number, fsync: number}} counts
 */
export function localFloor(counts, dir) {
  const key = randomBytes(32);
  const aad = randomBytes(60);
  const nonce = randomBytes(12);
  const start = process.hrtime.bigint();
  const plain = randomBytes(Math.max(1, Math.round(counts.encryptBytes / Math.max(1, counts.encrypt))));
  for (let i = 0; i < counts.encrypt; i++) {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    cipher.update(plain);
    cipher.final();
    cipher.getAuthTag();
  }
  const size = Math.max(1, Math.round(counts.decryptBytes / Math.max(1, counts.decrypt)));
  const sealer = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
  const sealed = Buffer.concat([sealer.update(randomBytes(size)), sealer.final()]);
  const tag = sealer.getAuthTag();
  for (let i = 0; i < counts.decrypt; i++) {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    decipher.update(sealed);
    decipher.final();
  }
  const value = randomBytes(44);
  for (let i = 0; i < counts.hmac; i++) createHmac('sha256', key).update(value).digest();
  const scratch = mkdtempSync(join(dir, 'keyshift-floor-'));
  const fd = openSync(join(scratch, 'append'), 'a');
  const block = randomBytes(4096);
  try {
    for (let i = 0; i < counts.fsync; i++) {
      writeSync(fd, block);
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}
