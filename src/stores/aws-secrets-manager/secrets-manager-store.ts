import type * as SM from '@aws-sdk/client-secrets-manager';
import { errorMessage, ExitCode, KeyshiftError } from '../../errors.js';
import type { SecretsManagerStoreSpec } from '../../policy/types.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryLease, EntryMeta, EntryState, LeaseOptions, LockOptions, ReadOptions, SecretStore, StoreFinding, StoreContext, StoreLock, StoreMeta, VersionOp } from '../contract.js';
import { clientConfig, quietClient } from '../aws/client-config.js';
import { isNotFound, toKeyshiftError } from '../aws/errors.js';
import { decodeRecord, effectiveMeta, encodeRecord, TAG_PREFIX, type StoredRecord } from '../aws/meta-tags.js';
import { assertTagRoom, otherTagCount, rotationTags } from '../aws/rotation-tags.js';
import type { RotationTagKeys } from '../../policy/schema-aws-tags.js';
import { LocalStoreState } from '../aws/state-dir.js';
import { QuotaGate } from '../aws/token-bucket.js';
import { AWSCURRENT, AWSPENDING, AWSPREVIOUS, holderOf, isApplied, toVersions, type Labels } from './labels.js';
import { diagnoseSecret } from './diagnose.js';
import { refuseForeignState } from './refusal.js';
import { checkOps, createdNow, pruneCreated, retiredBy, valueOf } from './version-ops.js';
import { failFastOnQuotas } from './quota-errors.js';
import { isRefusedMove, LEASE_LABEL, LEASE_TAG, takeSecretLease } from './lease.js';

type Sdk = typeof SM;
type ApiClass = 'reads' | 'versionWrites' | 'tags' | 'create' | 'list';

/** ListSecretVersionIds: 50 calls per second by default (../../../docs/stores/aws-secrets-manager.md#quotas). */
const LIST_PER_SECOND = 50;
type Description = SM.DescribeSecretResponse;

const IAM_DOC = 'docs/stores/aws-secrets-manager.md#iam';

/**
 * AWS Secrets Manager as a keyshift store, the way AWS's own rotation uses it (docs/stores/aws-secrets-manager.md):
 * issue = PutSecretValue with AWSPENDING and the version id as ClientRequestToken; switch = AWSCURRENT
 * moved with RemoveFromVersionId (AWSPREVIOUS follows); decommission = AWSPREVIOUS removed (the
 * version becomes deprecated). The rotation record lives in `keyshift:*` tags on the secret.
 */
export class SecretsManagerStore implements SecretStore {
  readonly kind = 'aws-secrets-manager';
  readonly location: string;
  readonly capabilities = { atomicApply: false, remoteReads: true };
  readonly #client: SM.SecretsManagerClient;
  readonly #sdk: Sdk;
  readonly #gate: QuotaGate<ApiClass>;
  /** `<key>\n<version id>` → the CreatedDate of that AWSCURRENT version (#rememberCurrentCreated). */
  readonly #currentCreated = new Map<string, Date>();
  readonly #local: LocalStoreState;
  readonly #log: StoreContext['log'];
  readonly #createIfMissing = new Set<string>();
  readonly #rotationTags = new Map<string, RotationTagKeys>();
  /** Labels of each secret's last description, for readValue's stage. */
  readonly #labels = new Map<string, Labels>();

  constructor(spec: SecretsManagerStoreSpec, context: StoreContext, sdk: Sdk) {
    this.#sdk = sdk;
    this.#log = context.log;
    const config = clientConfig(spec, context.aws, context.env);
    this.#client = quietClient(() => new sdk.SecretsManagerClient(config), context.log);
    failFastOnQuotas(this.#client);
    const where = [spec.region ?? context.aws.region ?? context.env.AWS_REGION ?? 'default region', spec.endpoint ?? context.aws.endpoint].filter(Boolean);
    this.location = `secretsmanager ${where.join(' ')}`;
    this.#local = new LocalStoreState(context.env, this.kind, context.storeId);
    const quotas = spec.quotas;
    this.#gate = new QuotaGate<ApiClass>({
      reads: quotas.readsPerSecond,
      versionWrites: quotas.versionWritesPerSecond,
      tags: quotas.tagWritesPerSecond,
      create: quotas.tagWritesPerSecond,
      list: LIST_PER_SECOND,
    }, context.aws.quotaShare);
  }

  configureEntry(spec: SecretsManagerStoreSpec): void {
    if (spec.createIfMissing) this.#createIfMissing.add(spec.key);
    if (spec.tags) this.#rotationTags.set(spec.key, spec.tags);
  }

  async read(key: string, options?: ReadOptions): Promise<EntryState | null> {
    const description = await this.#describe(key);
    if (!description) return null;
    // A secret without keyshift's record has no drafts: recovery needs no age. Skipping the call
    // there keeps a run's up-front pass over every secret off the ListSecretVersionIds quota (50/s,
    // shared by sharded runners); each rotation makes it when it reads its secret.
    if (!options?.draftsOnly) await this.#rememberCurrentCreated(key, description);
    return this.#toState(key, description);
  }

  /**
   * A secret keyshift never rotated is due from when its current value was made: the AWSCURRENT
   * version's CreatedDate (one ListSecretVersionIds per value, remembered). Not LastChangedDate,
   * which any change bumps, keyshift's own lease (a label move and a tag) included: a lease taken
   * to rotate the secret made it look just changed, and it never fell due.
   */
  async #rememberCurrentCreated(key: string, description: Description): Promise<void> {
    // A secret marked for deletion refuses the call; the store refuses the secret anyway.
    if (description.LastRotatedDate || description.DeletedDate || decodeRecord(description.Tags ?? [], key)) return;
    const current = holderOf((description.VersionIdsToStages ?? {}) as Labels, AWSCURRENT);
    if (!current || this.#currentCreated.has(`${key}\n${current}`)) return;
    let token: string | undefined;
    do {
      let page: SM.ListSecretVersionIdsResponse;
      try {
        page = await this.#call<SM.ListSecretVersionIdsResponse>('list', `ListSecretVersionIds ${key}`, new this.#sdk.ListSecretVersionIdsCommand({ SecretId: key, ...(token ? { NextToken: token } : {}) }));
      } catch (error) {
        // An identity granted only the earlier IAM policy: the secret's LastChangedDate serves then.
        if ((error as KeyshiftError).code === 'ERR_STORE_ACCESS_DENIED') return;
        throw error;
      }
      const version = page.Versions?.find((v) => v.VersionId === current);
      if (version?.CreatedDate) {
        this.#currentCreated.set(`${key}\n${current}`, version.CreatedDate);
        return;
      }
      token = page.NextToken;
    } while (token);
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    // The labels of the last description usually suffice (the engine reads right after a write);
    // if they are stale, AWS refuses the id/stage pair and the read is repeated with fresh labels.
    const cached = this.#labels.get(key);
    if (cached) {
      try {
        return await this.#readVersion(key, versionId, cached);
      } catch (error) {
        if ((error as KeyshiftError).code !== 'ERR_STORE_NOT_FOUND' && (error as KeyshiftError).code !== 'ERR_VERSION_NOT_FOUND') throw error;
      }
    }
    return this.#readVersion(key, versionId, ((await this.#describe(key))?.VersionIdsToStages ?? {}) as Labels);
  }

  /** A version without a label is deprecated: AWS may still hold it, but for keyshift it is retired.
   * Read with the stage as well as the id: AWS answers only if both agree. */
  async #readVersion(key: string, versionId: string, labels: Labels): Promise<SecretValue> {
    const stage = [AWSCURRENT, AWSPENDING, AWSPREVIOUS].find((s) => labels[versionId]?.includes(s));
    if (!stage) throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${key}: version ${versionId} is not in ${this.location}`);
    try {
      const answer = await this.#call<SM.GetSecretValueResponse>('reads', `GetSecretValue on ${key}`, new this.#sdk.GetSecretValueCommand({ SecretId: key, VersionId: versionId, VersionStage: stage }));
      if (answer.SecretString !== undefined) return SecretValue.fromString(answer.SecretString);
      if (answer.SecretBinary) return SecretValue.fromBytes(answer.SecretBinary);
    } catch (error) {
      if ((error as KeyshiftError).code !== 'ERR_STORE_NOT_FOUND') throw error;
    }
    throw new KeyshiftError('ERR_VERSION_NOT_FOUND', `${key}: version ${versionId} is not in ${this.location}`);
  }

  fingerprint(value: SecretValue): string {
    return this.#local.fingerprint(value.revealBytes());
  }

  lock(options: LockOptions): Promise<StoreLock> {
    return this.#local.lock(options, `store ${this.location}`);
  }

  /** The secret's cross-machine lease: a staging label moved with a compare-and-set (lease.ts). */
  lease(key: string, options: LeaseOptions): Promise<EntryLease> {
    return takeSecretLease(
      {
        describe: async (secret) => {
          const description = await this.#describe(secret);
          if (!description) return null;
          return { labels: (description.VersionIdsToStages ?? {}) as Labels, tag: description.Tags?.find((t) => t.Key === LEASE_TAG)?.Value, refused: this.#refuses(secret, description) };
        },
        tag: async (secret, value) => {
          await this.#call('tags', `TagResource ${LEASE_TAG} on ${secret}`, new this.#sdk.TagResourceCommand({ SecretId: secret, Tags: [{ Key: LEASE_TAG, Value: value }] }));
        },
        move: async (secret, to, from) => {
          const command = new this.#sdk.UpdateSecretVersionStageCommand({ SecretId: secret, VersionStage: LEASE_LABEL, ...(to ? { MoveToVersionId: to } : {}), ...(from ? { RemoveFromVersionId: from } : {}) });
          try {
            await this.#call('versionWrites', `UpdateSecretVersionStage ${LEASE_LABEL} on ${secret}`, command, false);
            return true;
          } catch (error) {
            if (isRefusedMove(error)) return false;
            throw toKeyshiftError(error, { what: `UpdateSecretVersionStage ${LEASE_LABEL} on ${secret}`, service: this.location, iamDoc: IAM_DOC });
          }
        },
        log: (message, error) => this.#log.error({ err: errorMessage(error) }, message),
      },
      key,
      options,
    );
  }

  async apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    if (!this.#local.held) throw new KeyshiftError('ERR_INTERNAL', `${this.location}: apply without the store lock`);
    // Re-read before every change: Secrets Manager is eventually consistent, and others may write.
    const description = await this.#describe(key);
    if (!description) return this.#create(key, ops, meta);
    const before = this.#toState(key, description);
    refuseForeignState(key, description, [before.rotation?.newVersionId, meta.rotation?.newVersionId, ...ops.map((op) => op.versionId)]);
    const labels = (description.VersionIdsToStages ?? {}) as Labels;
    checkOps(key, ops, labels);
    const stored = decodeRecord(description.Tags ?? [], key);
    const record: StoredRecord = {
      ...meta,
      intent: ops,
      before: ops.length > 0 ? { rotation: before.rotation, lastRotatedAt: before.lastRotatedAt, drafts: before.pendingEvents.length } : null,
      created: pruneCreated({ ...createdNow(ops), ...stored?.created }, labels, ops),
      retired: [...(stored?.retired ?? []), ...retiredBy(ops, labels)].slice(-5),
    };
    // The opt-in rotated-by/-at/ticket tags ride on the same call as the record (one TagResource).
    const own = rotationTags(this.#rotationTags.get(key), ops, meta);
    const tags = [...encodeRecord(record, otherTagCount(description.Tags ?? [], own, TAG_PREFIX)), ...own];
    assertTagRoom(`secret ${key}`, description.Tags ?? [], tags, own);
    await this.#call('tags', `TagResource on ${key}`, new this.#sdk.TagResourceCommand({ SecretId: key, Tags: tags }));
    // The first change builds on the description just read; later ones re-read what the first did.
    let fresh: Labels | null = labels;
    for (const op of ops) {
      await this.#applyOp(key, op, fresh ?? (((await this.#describe(key))?.VersionIdsToStages ?? {}) as Labels));
      fresh = null;
    }
    return (await this.read(key)) as EntryState;
  }

  /** `doctor`: a foreign AWSPENDING (repairable when clearly safe) and labels nothing explains. One DescribeSecret. */
  async diagnose(key: string): Promise<StoreFinding[]> {
    const description = await this.#describe(key);
    if (!description) return [];
    const secret = { labels: (description.VersionIdsToStages ?? {}) as Labels, rotationEnabled: Boolean(description.RotationEnabled), deleted: Boolean(description.DeletedDate) };
    return diagnoseSecret(key, secret, decodeRecord(description.Tags ?? [], key), this.#toState(key, description));
  }

  lockFile(): string {
    return this.#local.lockPath();
  }

  readMeta(): Promise<StoreMeta> {
    return this.#local.readMeta();
  }

  writeMeta(meta: StoreMeta): Promise<void> {
    return this.#local.writeMeta(meta);
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async #applyOp(key: string, op: VersionOp, labels: Labels): Promise<void> {
    if (op.type === 'create') {
      if (op.versionId in labels) return; // the same token was sent before: nothing to do
      const stages = op.stage === 'PENDING' || holderOf(labels, AWSCURRENT) ? { VersionStages: [AWSPENDING] } : {};
      await this.#call('versionWrites', `PutSecretValue on ${key}`, new this.#sdk.PutSecretValueCommand({ SecretId: key, ClientRequestToken: op.versionId, SecretString: valueOf(op).reveal(), ...stages }));
      return;
    }
    if (op.type === 'promote') {
      const current = holderOf(labels, AWSCURRENT);
      if (current === op.versionId) return;
      await this.#moveLabel(key, AWSCURRENT, op.versionId, current);
      return;
    }
    if (op.type === 'restore') throw new KeyshiftError('ERR_INTERNAL', `${this.location} cannot restore a retired version (this is a bug)`);
    if (labels[op.versionId]?.includes(AWSCURRENT)) {
      throw new KeyshiftError('ERR_INTERNAL', `${key}: refusing to retire ${op.versionId}, which is AWSCURRENT`);
    }
    for (const label of [AWSPENDING, AWSPREVIOUS]) {
      if (labels[op.versionId]?.includes(label)) await this.#moveLabel(key, label, undefined, op.versionId);
    }
    // A free lease's label must not keep a retired version (and its value) alive: it goes to AWSCURRENT.
    // Refused only if a runner took the lease meanwhile; its release puts the label on AWSCURRENT.
    const current = holderOf(labels, AWSCURRENT);
    if (current && labels[op.versionId]?.includes(LEASE_LABEL)) await this.#moveLabel(key, LEASE_LABEL, current, op.versionId).catch(() => undefined);
  }

  async #moveLabel(key: string, label: string, to: string | undefined, from: string | undefined): Promise<void> {
    try {
      await this.#call(
        'versionWrites',
        `UpdateSecretVersionStage ${label} on ${key}`,
        new this.#sdk.UpdateSecretVersionStageCommand({ SecretId: key, VersionStage: label, ...(to ? { MoveToVersionId: to } : {}), ...(from ? { RemoveFromVersionId: from } : {}) }),
      );
    } catch (error) {
      // A move whose reply was lost may have been made: the SDK's retry then fails (RemoveFromVersionId
      // no longer holds the label), or the call fails outright. If the labels show it done, it is.
      const labels = ((await this.#describe(key).catch(() => null))?.VersionIdsToStages ?? {}) as Labels;
      const done = to ? holderOf(labels, label) === to : from !== undefined && !labels[from]?.includes(label);
      if (!done) throw error;
    }
  }

  /** Provisioning a secret that does not exist: only with `createIfMissing: true` in the policy. */
  async #create(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    const first = ops[0];
    if (ops.length !== 1 || first?.type !== 'create' || first.stage !== 'CURRENT') {
      throw new KeyshiftError('ERR_STORE_NOT_FOUND', `secret ${key} no longer exists in ${this.location}`, { hint: 'it was deleted while keyshift was rotating it; restore it or remove it from the policy' });
    }
    if (!this.#createIfMissing.has(key)) {
      throw new KeyshiftError('ERR_STORE_NOT_FOUND', `secret ${key} does not exist in ${this.location}`, {
        hint: `create it (aws secretsmanager create-secret --name ${key}), or set createIfMissing: true in its store to let keyshift create it`,
      });
    }
    if (key.startsWith('arn:')) {
      throw new KeyshiftError('ERR_STORE_NOT_FOUND', `secret ${key} does not exist, and a secret cannot be created from an ARN`, { exitCode: ExitCode.usage, hint: 'use the secret\'s name as secretId' });
    }
    const record: StoredRecord = { ...meta, intent: [], before: null, created: createdNow(ops), retired: [] };
    const own = rotationTags(this.#rotationTags.get(key), ops, meta);
    await this.#call(
      'create',
      `CreateSecret ${key}`,
      new this.#sdk.CreateSecretCommand({ Name: key, ClientRequestToken: first.versionId, SecretString: valueOf(first).reveal(), Tags: [...encodeRecord(record, own.length), ...own], Description: 'Rotated by keyshift' }),
    );
    return (await this.read(key)) as EntryState;
  }

  /** Whether apply would refuse this secret (exit 3, nothing changed): then no lease is taken either. */
  #refuses(key: string, description: Description): boolean {
    try {
      refuseForeignState(key, description, [this.#toState(key, description).rotation?.newVersionId]);
      return false;
    } catch (error) {
      return error instanceof KeyshiftError && error.exitCode === ExitCode.blocked;
    }
  }

  async #describe(key: string): Promise<Description | null> {
    try {
      const description = await this.#call<Description>('reads', `DescribeSecret ${key}`, new this.#sdk.DescribeSecretCommand({ SecretId: key }), false);
      this.#labels.set(key, (description.VersionIdsToStages ?? {}) as Labels);
      return description;
    } catch (error) {
      if (isNotFound(error)) {
        this.#labels.delete(key);
        return null;
      }
      throw toKeyshiftError(error, { what: `DescribeSecret ${key}`, service: this.location, iamDoc: IAM_DOC });
    }
  }

  #toState(key: string, description: Description): EntryState {
    const labels = (description.VersionIdsToStages ?? {}) as Labels;
    const record = decodeRecord(description.Tags ?? [], key);
    const since = (description.CreatedDate ?? new Date(0)).toISOString();
    const versions = toVersions(labels, record?.created ?? {}, since);
    if (!record) {
      // Never rotated by keyshift: due from its last rotation (a Lambda's) or its current value's making.
      const current = holderOf(labels, AWSCURRENT);
      const last = description.LastRotatedDate ?? (current ? this.#currentCreated.get(`${key}\n${current}`) : undefined) ?? description.LastChangedDate ?? description.CreatedDate;
      return { versions, retired: [], rotation: null, lastRotatedAt: last ? last.toISOString() : null, pendingEvents: [] };
    }
    return { versions, retired: record.retired, ...effectiveMeta(record, (op) => isApplied(op, labels)) };
  }

  async #call<T>(apiClass: ApiClass, what: string, command: { input: object }, mapErrors = true): Promise<T> {
    await this.#gate.take(apiClass);
    try {
      return (await this.#client.send(command as never)) as T;
    } catch (error) {
      if (!mapErrors) throw error;
      throw toKeyshiftError(error, { what, service: this.location, iamDoc: IAM_DOC, input: command.input });
    }
  }
}
