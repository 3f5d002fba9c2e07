import type * as KMS from '@aws-sdk/client-kms';
import type { Log } from '../log.js';
import { SecretValue } from '../secret-value.js';
import { clientConfig, quietClient, type AwsOverrides } from '../stores/aws/client-config.js';
import { toKeyshiftError } from '../stores/aws/errors.js';
import { DATA_KEY_PREFIX, notWrapped, parseStoredDataKey, type MasterKey } from './data-keys.js';

/** An `aws-kms` master: a KMS key (id, ARN or alias) that wraps the data keys inside KMS. */
export interface KmsMasterSpec {
  type: 'aws-kms';
  keyId: string;
  region?: string;
  endpoint?: string;
  profile?: string;
}

const IAM_DOC = 'docs/reencrypt.md#key-hierarchy';
const silent: Log = { child: () => silent, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/**
 * Data keys wrapped by KMS: GenerateDataKeyWithoutPlaintext creates one (keyshift never sees it at
 * rotation), Decrypt unwraps it for re-encrypting rows, ReEncrypt re-wraps it under the master's
 * current key material (after RotateKeyOnDemand or an automatic rotation) or under the key an
 * alias now names, the plaintext staying inside KMS. The context goes as encryption context.
 * The SDK loads with the first master opened, as for the aws-kms store.
 */
export async function openKmsMasterKey(spec: KmsMasterSpec, options: { env?: NodeJS.ProcessEnv; overrides?: AwsOverrides; log?: Log } = {}): Promise<MasterKey> {
  const loaded = (await import('@aws-sdk/client-kms')) as Partial<typeof KMS> & { default?: typeof KMS };
  const sdk = (loaded.KMSClient ? loaded : loaded.default) as typeof KMS;
  const config = clientConfig({ region: spec.region ?? null, endpoint: spec.endpoint ?? null, profile: spec.profile ?? null }, options.overrides ?? {}, options.env ?? process.env);
  const client = quietClient(() => new sdk.KMSClient(config), options.log ?? silent);
  const describe = `aws-kms ${spec.keyId}`;
  const encryptionContext = (context: string) => ({ 'keyshift:data-key': context });

  async function call<T>(what: string, context: string, input: object, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = (error as { name?: string }).name;
      if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
        throw notWrapped(context, describe, `KMS ${what} answered ${name} (damaged, wrapped for another secret, or by a deleted key)`);
      }
      throw toKeyshiftError(error, { what: `${what} with ${spec.keyId}`, service: 'AWS KMS', iamDoc: IAM_DOC, input });
    }
  }

  function blobOf(stored: string, context: string): Uint8Array {
    const parsed = parseStoredDataKey(stored);
    if (!parsed || parsed.master !== 'aws-kms') throw notWrapped(context, describe, 'it is not a data key wrapped by AWS KMS');
    return parsed.blob;
  }
  const stored = (blob: Uint8Array | undefined) => `${DATA_KEY_PREFIX}:aws-kms:${Buffer.from(blob ?? []).toString('base64')}`;

  return {
    describe,
    async newDataKey(context) {
      const input = { KeyId: spec.keyId, KeySpec: 'AES_256' as const, EncryptionContext: encryptionContext(context) };
      const out = await call('GenerateDataKeyWithoutPlaintext', context, input, () => client.send(new sdk.GenerateDataKeyWithoutPlaintextCommand(input)));
      return stored(out.CiphertextBlob);
    },
    async unwrap(value, context) {
      const input = { CiphertextBlob: blobOf(value, context), EncryptionContext: encryptionContext(context) };
      const out = await call('Decrypt', context, {}, () => client.send(new sdk.DecryptCommand(input)));
      const key = SecretValue.fromBytes(out.Plaintext ?? new Uint8Array());
      out.Plaintext?.fill(0);
      return key;
    },
    async rewrap(value, context) {
      const input = {
        CiphertextBlob: blobOf(value, context),
        SourceEncryptionContext: encryptionContext(context),
        DestinationKeyId: spec.keyId,
        DestinationEncryptionContext: encryptionContext(context),
      };
      const out = await call('ReEncrypt', context, {}, () => client.send(new sdk.ReEncryptCommand(input)));
      return stored(out.CiphertextBlob);
    },
    async wrappedBy(value, context) {
      const input = { CiphertextBlob: blobOf(value, context), EncryptionContext: encryptionContext(context) };
      const out = await call('Decrypt', context, {}, () => client.send(new sdk.DecryptCommand(input)));
      out.Plaintext?.fill(0);
      return out.KeyId ?? '';
    },
    close: () => client.destroy(),
  };
}
