// Real symmetric encryption for the KMS fake: AES-256-GCM under the key's material, in a
// ciphertext blob that names the key and the material generation, so Decrypt needs no KeyId and
// ciphertexts from before RotateKeyOnDemand still decrypt. The encryption context is bound as AAD.
//
// Blob: version(1) | key id (36 ASCII) | material index (uint16 BE) | IV(12) | tag(16) | ciphertext
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AwsError } from './aws-json-server.js';
import { assertUsable } from './kms-state.js';

const VERSION = 1;
const HEADER = 1 + 36 + 2;
const MIN_BLOB = HEADER + 12 + 16;
const ALGORITHM = 'SYMMETRIC_DEFAULT';

export function kmsCryptoOperations(state) {
  function encryptUnder(identifier, plaintext, context) {
    const key = state.resolveKey(identifier, { alias: true });
    assertUsable(key);
    assertEncryptionKey(key);
    return { key, blob: seal(key, plaintext, context) };
  }

  /** Opens a blob: InvalidCiphertextException for a tampered blob or one whose key is gone. */
  function decryptBlob(blob, expectedKeyId, context) {
    const parsed = parse(blob);
    const key = parsed && state.keys.get(parsed.keyId);
    if (!key) throw invalidCiphertext();
    if (expectedKeyId !== undefined && state.resolveKey(expectedKeyId, { alias: true }) !== key) {
      throw new AwsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    }
    assertUsable(key);
    const material = key.materials[parsed.index];
    if (!material) throw invalidCiphertext();
    try {
      const decipher = createDecipheriv('aes-256-gcm', material.secret, parsed.iv);
      decipher.setAAD(aad(parsed.header, context));
      decipher.setAuthTag(parsed.tag);
      return { key, plaintext: Buffer.concat([decipher.update(parsed.body), decipher.final()]) };
    } catch {
      throw invalidCiphertext();
    }
  }

  function dataKey(input) {
    const { NumberOfBytes: bytes, KeySpec: spec } = input;
    if ((bytes === undefined) === (spec === undefined)) {
      throw new AwsError('ValidationException', 'Please specify either number of bytes or key spec.');
    }
    if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128') {
      throw new AwsError('ValidationException', `1 validation error detected: Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
    }
    if (bytes !== undefined && !(Number.isInteger(bytes) && bytes >= 1 && bytes <= 1024)) {
      throw new AwsError('ValidationException', `1 validation error detected: Value '${bytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024`);
    }
    const plaintext = randomBytes(bytes ?? (spec === 'AES_128' ? 16 : 32));
    const { key, blob } = encryptUnder(input.KeyId, plaintext, input.EncryptionContext);
    return { CiphertextBlob: blob, Plaintext: plaintext, KeyId: key.arn };
  }

  const operations = {
    Encrypt(input) {
      const plaintext = blobInput(input.Plaintext, 'plaintext', 4096);
      const { key, blob } = encryptUnder(input.KeyId, plaintext, input.EncryptionContext);
      return { CiphertextBlob: blob, KeyId: key.arn, EncryptionAlgorithm: ALGORITHM };
    },

    Decrypt(input) {
      const blob = blobInput(input.CiphertextBlob, 'ciphertextBlob', 6144);
      const { key, plaintext } = decryptBlob(blob, input.KeyId, input.EncryptionContext);
      return { KeyId: key.arn, Plaintext: plaintext, EncryptionAlgorithm: ALGORITHM };
    },

    GenerateDataKey: (input) => dataKey(input),

    GenerateDataKeyWithoutPlaintext(input) {
      const { CiphertextBlob, KeyId } = dataKey(input);
      return { CiphertextBlob, KeyId };
    },

    ReEncrypt(input) {
      const blob = blobInput(input.CiphertextBlob, 'ciphertextBlob', 6144);
      const source = decryptBlob(blob, input.SourceKeyId, input.SourceEncryptionContext);
      const target = encryptUnder(input.DestinationKeyId, source.plaintext, input.DestinationEncryptionContext);
      return {
        CiphertextBlob: target.blob,
        SourceKeyId: source.key.arn,
        KeyId: target.key.arn,
        SourceEncryptionAlgorithm: ALGORITHM,
        DestinationEncryptionAlgorithm: ALGORITHM,
      };
    },
  };
  // DryRun (KMS developer guide, "Testing your permissions"): every check runs, then the call is
  // refused with DryRunOperationException (HTTP 412 in the service model) instead of answering.
  return Object.fromEntries(
    Object.entries(operations).map(([op, run]) => [
      op,
      (input) => {
        const output = run(input);
        if (input.DryRun === true) throw new AwsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.', 412);
        return output;
      },
    ]),
  );
}

/** Which key and which of its material generations sealed a blob (tests of rotation), or undefined. */
export function blobMaterial(blob) {
  const parsed = parse(Buffer.from(blob));
  return parsed && { keyId: parsed.keyId, index: parsed.index };
}

/** The key id a blob names, or undefined (for logs and deny rules). */
export function keyIdOfBlob(base64) {
  try {
    return parse(Buffer.from(base64, 'base64'))?.keyId;
  } catch {
    return undefined;
  }
}

function assertEncryptionKey(key) {
  if (key.keyUsage !== 'ENCRYPT_DECRYPT') {
    throw new AwsError('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for this operation.`);
  }
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new AwsError('UnsupportedOperationException', `The KMS fake does not implement ${key.keySpec} encryption.`);
  }
}

function seal(key, plaintext, context) {
  const index = key.materials.length - 1;
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(VERSION, 0);
  header.write(key.id, 1, 36, 'ascii');
  header.writeUInt16BE(index, 37);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.materials[index].secret, iv);
  cipher.setAAD(aad(header, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

function parse(blob) {
  if (blob.length < MIN_BLOB || blob[0] !== VERSION) return undefined;
  return {
    header: blob.subarray(0, HEADER),
    keyId: blob.toString('ascii', 1, 37),
    index: blob.readUInt16BE(37),
    iv: blob.subarray(HEADER, HEADER + 12),
    tag: blob.subarray(HEADER + 12, MIN_BLOB),
    body: blob.subarray(MIN_BLOB),
  };
}

// The context is bound in a canonical (key-sorted) form, so member order does not matter.
function aad(header, context = {}) {
  const pairs = Object.keys(context).sort().map((k) => [k, String(context[k])]);
  return Buffer.concat([header, Buffer.from(JSON.stringify(pairs))]);
}

function blobInput(base64, member, max) {
  const bytes = typeof base64 === 'string' ? Buffer.from(base64, 'base64') : Buffer.alloc(0);
  if (bytes.length < 1 || bytes.length > max) {
    const bound = bytes.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${max}`;
    throw new AwsError('ValidationException', `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length ${bound}`);
  }
  return bytes;
}

function invalidCiphertext() {
  return new AwsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced by a KMS key in this account and Region.');
}
