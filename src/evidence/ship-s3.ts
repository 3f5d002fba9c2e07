import type * as S3 from '@aws-sdk/client-s3';
import { ExitCode, KeyshiftError } from '../errors.js';
import type { Log } from '../log.js';
import { clientConfig, quietClient, type AwsOverrides } from '../stores/aws/client-config.js';

/**
 * The few S3 calls `evidence ship` makes, over @aws-sdk/client-s3 loaded on first use (no other
 * command loads it). Settings follow the AWS CLI: --region/--profile/--endpoint-url, else the
 * standard AWS environment (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_S3, the credential chain);
 * with a custom endpoint (MinIO, an emulator) requests are path-style, as emulators expect.
 */

export interface ObjectLock {
  enabled: boolean;
  /** The bucket's default retention rule, if it has one. */
  defaultRetention: { mode: string; days: number | null; years: number | null } | null;
}

export interface ShippedObject {
  metadata: Record<string, string>;
  versionId: string | null;
  retainUntil: string | null;
  mode: string | null;
}

export interface S3Target {
  objectLock(bucket: string): Promise<ObjectLock | null>;
  /** The object's metadata, or null when the key does not exist. */
  head(bucket: string, key: string): Promise<ShippedObject | null>;
  /** Creates the key; false when it exists already (If-None-Match: *), nothing written. */
  putNew(bucket: string, key: string, body: Buffer, metadata: Record<string, string>, retention: { mode: 'COMPLIANCE'; until: Date } | null): Promise<{ created: boolean; versionId: string | null }>;
  close(): void;
}

const IAM = 's3:PutObject, s3:GetObject (for HeadObject), s3:GetBucketObjectLockConfiguration and, with --retain, s3:PutObjectRetention on the bucket and prefix';

export async function openS3(overrides: AwsOverrides, env: NodeJS.ProcessEnv, log: Log): Promise<S3Target> {
  // The SDK is CommonJS: bundled, its exports arrive as `default`; unbundled (tests of dist/), as names.
  const loaded = (await import('@aws-sdk/client-s3')) as Partial<typeof S3> & { default?: typeof S3 };
  const sdk = (loaded.S3Client ? loaded : loaded.default) as typeof S3;
  const config = clientConfig({ region: null, endpoint: null, profile: null }, overrides, env);
  const customEndpoint = Boolean(overrides.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  const client = quietClient(() => new sdk.S3Client({ ...config, ...(customEndpoint ? { forcePathStyle: true } : {}) }), log);
  const fail = (what: string, error: unknown): never => {
    throw shipError(what, error);
  };
  return {
    async objectLock(bucket) {
      try {
        const out = await client.send(new sdk.GetObjectLockConfigurationCommand({ Bucket: bucket }));
        const rule = out.ObjectLockConfiguration?.Rule?.DefaultRetention;
        return {
          enabled: out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled',
          defaultRetention: rule ? { mode: String(rule.Mode), days: rule.Days ?? null, years: rule.Years ?? null } : null,
        };
      } catch (error) {
        if (nameOf(error) === 'ObjectLockConfigurationNotFoundError') return { enabled: false, defaultRetention: null };
        if (nameOf(error) === 'AccessDenied') return null; // unknown: decided by the caller
        return fail(`GetObjectLockConfiguration on bucket ${bucket}`, error);
      }
    },
    async head(bucket, key) {
      try {
        const out = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { metadata: out.Metadata ?? {}, versionId: out.VersionId ?? null, retainUntil: out.ObjectLockRetainUntilDate?.toISOString() ?? null, mode: out.ObjectLockMode ?? null };
      } catch (error) {
        if (nameOf(error) === 'NotFound' || nameOf(error) === 'NoSuchKey') return null;
        return fail(`HeadObject s3://${bucket}/${key}`, error);
      }
    },
    async putNew(bucket, key, body, metadata, retention) {
      try {
        const out = await client.send(new sdk.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
          Metadata: metadata,
          IfNoneMatch: '*',
          ...(retention ? { ObjectLockMode: retention.mode, ObjectLockRetainUntilDate: retention.until } : {}),
        }));
        return { created: true, versionId: out.VersionId ?? null };
      } catch (error) {
        if (nameOf(error) === 'PreconditionFailed' || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) return { created: false, versionId: null };
        return fail(`PutObject s3://${bucket}/${key}`, error);
      }
    },
    close: () => client.destroy(),
  };
}

function nameOf(error: unknown): string {
  return (error as { name?: string })?.name ?? 'Error';
}

/** An S3 error as one line with its AWS code; the local log is untouched, so a rerun retries. */
function shipError(what: string, error: unknown): KeyshiftError {
  const name = nameOf(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  // S3 answers a failed HEAD without a body: the SDK then knows only the HTTP status, and names the
  // error Unknown, Forbidden, "403" or nothing, by version (aws/aws-sdk-js-v3#6597, #1596).
  const bodiless = status !== undefined && ['Unknown', 'Forbidden', String(status), '', 'Error'].includes(name);
  const detail = bodiless ? `HTTP ${status}` : `${name}: ${String((error as Error)?.message ?? error).split('\n')[0]}`;
  if (name === 'NoSuchBucket') {
    return new KeyshiftError('ERR_SHIP_NO_BUCKET', `${what}: the bucket does not exist (${detail})`, { exitCode: ExitCode.usage, hint: 'check the bucket name in --to (and --region / --endpoint-url)', cause: error });
  }
  if (name === 'InvalidRequest' && /object lock/i.test(detail)) {
    // --retain on a bucket whose lock configuration we could not read (no permission to) and lacks it.
    return new KeyshiftError('ERR_SHIP_NO_OBJECT_LOCK', `${what}: the bucket refuses Object Lock retention (${detail}); nothing was uploaded`, { exitCode: ExitCode.usage, hint: 'ship to a bucket created with Object Lock, or leave out --retain', cause: error });
  }
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || (bodiless && status === 403)) {
    return new KeyshiftError('ERR_SHIP_ACCESS_DENIED', `${what}: access denied by S3 (${detail})`, { hint: `grant ${IAM} to the identity keyshift runs as`, cause: error });
  }
  if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
    return new KeyshiftError('ERR_AWS_CREDENTIALS', `${what}: no usable AWS credentials (${detail})`, { exitCode: ExitCode.usage, hint: 'set AWS_PROFILE or --profile, run `aws sso login`, or provide AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY', cause: error });
  }
  if (/region is missing/i.test(detail)) {
    return new KeyshiftError('ERR_AWS_REGION', `${what}: no AWS Region configured`, { exitCode: ExitCode.usage, hint: 'pass --region or set AWS_REGION', cause: error });
  }
  return new KeyshiftError('ERR_SHIP_FAILED', `${what} failed (${detail})`, { retryable: true, hint: 'nothing was lost: the local log is unchanged and the next `keyshift evidence ship` retries what is not shipped yet', cause: error });
}
