// The ks1 field format (keyshift/envelope): round trips, the fallback keyring, and every way a field
// fails to open, each a typed EnvelopeError (counted per row by reencrypt), never another exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createDecipheriv } from 'node:crypto';
import { EnvelopeError, keyring, open, openText, seal, versionOf } from '../../dist/public/envelope.js';

const oldKey = { versionId: 'v-old', key: randomBytes(32) };
const newKey = { versionId: 'v-new', key: { value: randomBytes(32).toString('base64') } };
const both = keyring(newKey, oldKey);
const code = (fn) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, `an EnvelopeError, not ${error}`);
    return error.code;
  }
  assert.fail('expected an EnvelopeError');
};

test('the format is ks1:<version>:<base64 of nonce, ciphertext, tag>, AES-256-GCM under the raw key', () => {
  const field = seal('hello', keyring(oldKey));
  const [prefix, version, body] = field.split(':');
  assert.equal(prefix, 'ks1');
  assert.equal(version, 'v-old');
  const bytes = Buffer.from(body, 'base64');
  assert.equal(bytes.length, 12 + 5 + 16);
  // Decrypted here with Node's crypto alone, as any other language would.
  const decipher = createDecipheriv('aes-256-gcm', oldKey.key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(-16));
  assert.equal(Buffer.concat([decipher.update(bytes.subarray(12, -16)), decipher.final()]).toString(), 'hello');
  assert.notEqual(seal('hello', keyring(oldKey)), field, 'a fresh nonce each time');
});

test('during the fallback window one keyring seals under CURRENT and opens both versions', () => {
  const underOld = seal('card 4111', keyring(oldKey));
  const underNew = seal('card 4111', both);
  assert.equal(versionOf(underNew), 'v-new');
  assert.equal(openText(underOld, both), 'card 4111');
  assert.equal(openText(underNew, both), 'card 4111');
  assert.equal(open(seal(Buffer.from([0, 255]), both), both).toString('hex'), '00ff');
});

test('a tampered field, a wrong key and an unknown version fail as typed errors', () => {
  const field = seal('secret text', both);
  const body = Buffer.from(field.split(':')[2], 'base64');
  for (const index of [0, 13, body.length - 1]) {
    const tampered = Buffer.from(body);
    tampered[index] ^= 1;
    assert.equal(code(() => open(`ks1:v-new:${tampered.toString('base64')}`, both)), 'ERR_ENVELOPE_AUTH', `byte ${index}`);
  }
  const wrong = keyring({ versionId: 'v-new', key: randomBytes(32) });
  assert.equal(code(() => open(field, wrong)), 'ERR_ENVELOPE_AUTH');
  assert.equal(code(() => open(field, keyring(oldKey))), 'ERR_ENVELOPE_UNKNOWN_VERSION');
});

test('associated data binds a field to its table, column and row', () => {
  const aad = { table: 'users', column: 'email', key: 42 };
  const field = seal('a@example.com', both, aad);
  assert.equal(openText(field, both, aad), 'a@example.com');
  assert.equal(openText(field, both, { ...aad, key: '42' }), 'a@example.com');
  for (const other of [{ ...aad, key: 43 }, { ...aad, column: 'ssn' }, { ...aad, table: 'orders' }, null]) {
    assert.equal(code(() => open(field, both, other)), 'ERR_ENVELOPE_AUTH', JSON.stringify(other));
  }
});

test('malformed fields are ERR_ENVELOPE_MALFORMED and name no value', () => {
  const valid = seal('x', both);
  for (const bad of ['', 'plaintext', 'ks1', 'ks1:', 'ks1:v-new', 'ks1::AAAA', 'ks2:v-new:AAAA', 'ks1:v new:AAAA', 'ks1:v-new:not base64!', 'ks1:v-new:AAAA', `${valid}=`, valid.slice(0, -4), null, 42]) {
    const error = (() => { try { open(bad, both); } catch (e) { return e; } })();
    assert.ok(error instanceof EnvelopeError, `${JSON.stringify(bad)} → ${error}`);
    assert.equal(error.code, 'ERR_ENVELOPE_MALFORMED', JSON.stringify(bad));
    assert.equal(versionOf(bad), null);
  }
});

test('a key must be 32 bytes; its message names the version, never the key', () => {
  const short = randomBytes(16).toString('base64');
  const error = (() => { try { keyring({ versionId: 'v-short', key: { value: short } }); } catch (e) { return e; } })();
  assert.equal(error.code, 'ERR_ENVELOPE_KEY');
  assert.match(error.message, /v-short is 16 bytes, not 32/);
  assert.doesNotMatch(error.message, new RegExp(short.slice(0, 10).replace(/[+/]/g, '.')));
  assert.equal(keyring({ versionId: 'v-hex', key: { value: randomBytes(32).toString('hex'), encoding: 'hex' } }).keys.get('v-hex').length, 32);
  assert.equal(code(() => keyring({ versionId: 'v:colon', key: randomBytes(32) })), 'ERR_ENVELOPE_KEY');
});
