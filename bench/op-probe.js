// Loaded with --import into a keyshift run: counts what the floor of bench/local-rotate.js repeats
// (AES-256-GCM records encrypted and decrypted with their bytes, HMACs, fsyncs) and the peak RSS,
// and appends them as one JSON line to KEYSHIFT_BENCH_PROBE_FILE when the process exits.
// keyshift itself knows nothing of this: the builtins are wrapped before it loads.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const target = process.env.KEYSHIFT_BENCH_PROBE_FILE;
if (target) {
  const counts = { encrypt: 0, encryptBytes: 0, decrypt: 0, decryptBytes: 0, hmac: 0, fsync: 0 };
  const counted = (make, count, bytes) =>
    function (...args) {
      const cipher = make.apply(this, args);
      if (String(args[0]).toLowerCase() !== 'aes-256-gcm') return cipher;
      counts[count] += 1;
      const update = cipher.update;
      cipher.update = function (data, encoding, ...rest) {
        counts[bytes] += typeof data === 'string' ? Buffer.byteLength(data, encoding) : data.length;
        return update.call(this, data, encoding, ...rest);
      };
      return cipher;
    };
  crypto.createCipheriv = counted(crypto.createCipheriv, 'encrypt', 'encryptBytes');
  crypto.createDecipheriv = counted(crypto.createDecipheriv, 'decrypt', 'decryptBytes');
  const createHmac = crypto.createHmac;
  crypto.createHmac = function (...args) {
    counts.hmac += 1;
    return createHmac.apply(this, args);
  };
  for (const name of ['fsync', 'fdatasync', 'fsyncSync', 'fdatasyncSync']) {
    const original = fs[name];
    fs[name] = function (...args) {
      counts.fsync += 1;
      return original.apply(this, args);
    };
  }
  // FileHandle.sync / datasync: patched on the prototype every handle shares.
  const handle = await fs.promises.open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(handle);
  await handle.close();
  for (const name of ['sync', 'datasync']) {
    const original = proto[name];
    proto[name] = function (...args) {
      counts.fsync += 1;
      return original.apply(this, args);
    };
  }
  syncBuiltinESMExports(); // `import { createCipheriv } from 'node:crypto'` now sees the wrappers
  process.on('exit', () => fs.appendFileSync(target, `${JSON.stringify({ ...counts, maxRssKiB: process.resourceUsage().maxRSS })}\n`));
}
