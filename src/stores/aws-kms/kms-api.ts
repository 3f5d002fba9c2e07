import type * as KMS from '@aws-sdk/client-kms';
import type { KmsStoreSpec } from '../../policy/types.js';
import type { StoreContext } from '../contract.js';
import { clientConfig, quietClient } from '../aws/client-config.js';
import { isNotFound, toKeyshiftError } from '../aws/errors.js';
import { QuotaGate } from '../aws/token-bucket.js';

export type Sdk = typeof KMS;
export type KeyMetadata = KMS.KeyMetadata;
type Tag = { Key: string; Value: string };

const IAM_DOC = 'docs/stores/aws-kms.md#iam';
const CONTROL_PLANE = [
  'CreateKey',
  'CreateAlias',
  'UpdateAlias',
  'TagResource',
  'DisableKey',
  'EnableKey',
  'ScheduleKeyDeletion',
  'CancelKeyDeletion',
  'EnableKeyRotation',
  'RotateKeyOnDemand',
  'DeleteAlias',
] as const;
const READS = ['DescribeKey', 'ListAliases', 'ListResourceTags', 'GetKeyPolicy', 'ListKeys', 'ListKeyRotations', 'GetKeyRotationStatus'] as const;
type Operation = (typeof CONTROL_PLANE)[number] | (typeof READS)[number];

// KMS quotas are per account and Region, each control-plane operation its own: one gate per place,
// whichever stores (alias or managed mode) of the run talk to it.
const gates = new Map<string, QuotaGate<Operation>>();

/**
 * The KMS calls keyshift makes, each behind its client-side quota and with errors mapped to
 * keyshift's (throttled, access denied and not found stay distinct).
 */
export class KmsApi {
  readonly client: KMS.KMSClient;
  readonly location: string;
  /** How many times a call is tried (the SDK's maxAttempts), for calls keyshift retries itself. */
  readonly attempts: number;
  readonly #gate: QuotaGate<Operation>;
  readonly #single: () => KMS.KMSClient;
  #singleClient: KMS.KMSClient | undefined;

  constructor(
    spec: KmsStoreSpec,
    context: StoreContext,
    readonly sdk: Sdk,
  ) {
    const config = clientConfig(spec, context.aws, context.env);
    this.client = quietClient(() => new sdk.KMSClient(config), context.log);
    this.attempts = config.maxAttempts as number;
    this.#single = () => (this.#singleClient ??= quietClient(() => new sdk.KMSClient({ ...config, maxAttempts: 1 }), context.log));
    const region = spec.region ?? context.aws.region ?? context.env.AWS_REGION ?? 'default region';
    const endpoint = spec.endpoint ?? context.aws.endpoint;
    this.location = `kms ${[region, endpoint].filter(Boolean).join(' ')}`;
    const place = `${region}|${endpoint ?? ''}|${spec.profile ?? context.aws.profile ?? ''}`;
    let gate = gates.get(place);
    if (!gate) {
      const rates = Object.fromEntries([
        ...CONTROL_PLANE.map((op) => [op, spec.quotas.controlPlanePerSecond]),
        ...READS.map((op) => [op, op === 'GetKeyRotationStatus' ? Math.min(30, spec.quotas.readsPerSecond) : spec.quotas.readsPerSecond]),
      ]) as Record<Operation, number>;
      gate = new QuotaGate<Operation>(rates, context.aws.quotaShare);
      gates.set(place, gate);
    }
    this.#gate = gate;
  }

  /** `once`: a single request, never repeated by the SDK (for calls that are not idempotent). */
  async call<T>(op: Operation, what: string, input: object, { once = false } = {}): Promise<T> {
    await this.#gate.take(op);
    const Command = (this.sdk as unknown as Record<string, new (input: object) => object>)[`${op}Command`];
    try {
      return (await (once ? this.#single() : this.client).send(new (Command as new (input: object) => never)(input))) as T;
    } catch (error) {
      throw toKeyshiftError(error, { what: `${op} ${what}`, service: this.location, iamDoc: IAM_DOC, input });
    }
  }

  close(): void {
    this.client.destroy();
    this.#singleClient?.destroy();
  }

  /** The key behind an id or alias; null when it does not exist (or was deleted). */
  async describe(keyId: string): Promise<KeyMetadata | null> {
    try {
      return (await this.call<KMS.DescribeKeyResponse>('DescribeKey', keyId, { KeyId: keyId })).KeyMetadata ?? null;
    } catch (error) {
      if (isNotFound((error as { cause?: unknown }).cause)) return null;
      throw error;
    }
  }

  async tags(keyId: string): Promise<Tag[]> {
    const tags: Tag[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call<KMS.ListResourceTagsResponse>('ListResourceTags', keyId, { KeyId: keyId, ...(marker ? { Marker: marker } : {}) });
      for (const tag of page.Tags ?? []) tags.push({ Key: tag.TagKey ?? '', Value: tag.TagValue ?? '' });
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return tags;
  }

  async tag(keyId: string, tags: Tag[]): Promise<void> {
    await this.call('TagResource', keyId, { KeyId: keyId, Tags: tags.map((t) => ({ TagKey: t.Key, TagValue: t.Value })) });
  }

  /** Keys of the account and Region (only to find a key a crashed run created but did not record). */
  async *keyIds(): AsyncGenerator<string> {
    let marker: string | undefined;
    do {
      const page = await this.call<KMS.ListKeysResponse>('ListKeys', 'keys', { Limit: 100, ...(marker ? { Marker: marker } : {}) });
      for (const key of page.Keys ?? []) if (key.KeyId) yield key.KeyId;
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
  }
}
