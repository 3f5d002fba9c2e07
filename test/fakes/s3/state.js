// The S3 fake's buckets, object versions and Object Lock rules, apart from HTTP. Semantics from the
// S3 API reference and user guide ("Locking objects with Object Lock"): a bucket with Object Lock is
// always versioned; a PUT to an existing key adds a version (the locked one stays as it was); a
// version in COMPLIANCE mode cannot be deleted, nor its retention shortened or its mode changed,
// before its retain-until date, by anyone; GOVERNANCE yields to x-amz-bypass-governance-retention.
import { createHash, randomBytes } from 'node:crypto';

export class S3Error extends Error {
  constructor(code, message, status = 400, extra = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.extra = extra;
  }
}

export function createS3State({ now = () => new Date() } = {}) {
  const buckets = new Map();

  function bucket(name) {
    const found = buckets.get(name);
    if (!found) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: name });
    return found;
  }
  function versionsOf(b, key) {
    return b.objects.get(key) ?? [];
  }
  function latest(b, key, versionId) {
    const versions = versionsOf(b, key);
    const found = versionId ? versions.find((v) => v.versionId === versionId) : versions.at(-1);
    if (!found || (!versionId && found.deleteMarker)) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
    return found;
  }
  function locked(version) {
    return version.retention && new Date(version.retention.until) > now() ? version.retention : null;
  }

  return {
    buckets,
    createBucket(name, { objectLock = false, versioning = objectLock, defaultRetention = null } = {}) {
      buckets.set(name, { name, objectLock, versioning: versioning || objectLock, defaultRetention, objects: new Map() });
    },
    lockConfiguration(name) {
      const b = bucket(name);
      if (!b.objectLock) throw new S3Error('ObjectLockConfigurationNotFoundError', 'Object Lock configuration does not exist for this bucket', 404, { BucketName: name });
      return { enabled: true, defaultRetention: b.defaultRetention };
    },
    put(name, key, { body, metadata = {}, contentType, retention = null, ifNoneMatch = false }) {
      const b = bucket(name);
      if (retention && !b.objectLock) throw new S3Error('InvalidRequest', 'Bucket is missing Object Lock Configuration');
      const versions = versionsOf(b, key);
      const current = versions.at(-1);
      if (ifNoneMatch && current && !current.deleteMarker) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: 'If-None-Match' });
      if (!b.versioning && current && locked(current)) throw new S3Error('AccessDenied', 'Access Denied because object protected by object lock.', 403);
      const defaulted = !retention && b.defaultRetention ? { mode: b.defaultRetention.mode, until: new Date(now().getTime() + b.defaultRetention.days * 86_400_000).toISOString() } : null;
      const version = {
        versionId: b.versioning ? randomBytes(16).toString('base64url') : 'null',
        body: Buffer.from(body),
        metadata: { ...metadata },
        contentType: contentType ?? 'binary/octet-stream',
        etag: `"${createHash('md5').update(body).digest('hex')}"`,
        lastModified: now(),
        retention: retention ?? defaulted,
      };
      b.objects.set(key, b.versioning ? [...versions, version] : [version]);
      return version;
    },
    get: (name, key, versionId) => latest(bucket(name), key, versionId),
    list(name, { prefix = '', startAfter = '', maxKeys = 1000 } = {}) {
      const b = bucket(name);
      const keys = [...b.objects.keys()].filter((k) => k.startsWith(prefix) && k > startAfter && !b.objects.get(k).at(-1).deleteMarker).sort();
      return { keys: keys.slice(0, maxKeys).map((k) => ({ key: k, version: b.objects.get(k).at(-1) })), truncated: keys.length > maxKeys };
    },
    /** Every version of a key, oldest first (the fake's own inspection helper). */
    versions: (name, key) => versionsOf(bucket(name), key),
    putRetention(name, key, versionId, next, { bypassGovernance = false } = {}) {
      const b = bucket(name);
      if (!b.objectLock) throw new S3Error('InvalidRequest', 'Bucket is missing Object Lock Configuration');
      const version = latest(b, key, versionId);
      const held = locked(version);
      if (held) {
        const shortened = new Date(next.until) < new Date(held.until);
        const changedMode = next.mode !== held.mode;
        if ((held.mode === 'COMPLIANCE' && (shortened || changedMode)) || (held.mode === 'GOVERNANCE' && (shortened || changedMode) && !bypassGovernance)) {
          throw new S3Error('AccessDenied', 'Access Denied because object protected by object lock.', 403);
        }
      }
      version.retention = { ...next };
    },
    retention(name, key, versionId) {
      const version = latest(bucket(name), key, versionId);
      if (!version.retention) throw new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration', 404);
      return version.retention;
    },
    delete(name, key, versionId, { bypassGovernance = false } = {}) {
      const b = bucket(name);
      const versions = versionsOf(b, key);
      if (!versionId) {
        // Versioned: a delete marker on top; every version stays (locked or not), as in S3.
        if (b.versioning) b.objects.set(key, [...versions, { versionId: randomBytes(16).toString('base64url'), deleteMarker: true }]);
        else {
          if (versions[0] && locked(versions[0])) throw new S3Error('AccessDenied', 'Access Denied because object protected by object lock.', 403);
          b.objects.delete(key);
        }
        return;
      }
      const version = versions.find((v) => v.versionId === versionId);
      if (!version) return;
      const held = locked(version);
      if (held && (held.mode === 'COMPLIANCE' || !bypassGovernance)) throw new S3Error('AccessDenied', 'Access Denied because object protected by object lock.', 403);
      b.objects.set(key, versions.filter((v) => v !== version));
    },
  };
}
