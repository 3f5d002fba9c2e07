// The fake Vault's KV v2 state: one map of secrets per mount, as Vault's KV v2 engine keeps them.
// A secret: versions (data or null when destroyed), current_version, oldest_version, max_versions,
// cas_required and custom_metadata. Versions beyond max_versions are removed, oldest first.

export const DEFAULT_MAX_VERSIONS = 10; // the mount's default when the secret sets 0

export function newSecret(now) {
  return { versions: new Map(), currentVersion: 0, oldestVersion: 0, maxVersions: 0, casRequired: false, customMetadata: null, createdTime: now, updatedTime: now };
}

export function versionsOut(secret) {
  return Object.fromEntries([...secret.versions].map(([n, v]) => [String(n), { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed }]));
}

export function metadataOut(secret) {
  return {
    cas_required: secret.casRequired,
    created_time: secret.createdTime,
    current_version: secret.currentVersion,
    custom_metadata: secret.customMetadata,
    delete_version_after: '0s',
    max_versions: secret.maxVersions,
    oldest_version: secret.oldestVersion,
    updated_time: secret.updatedTime,
    versions: versionsOut(secret),
  };
}

/** Adds version current+1 and drops the oldest beyond max_versions (Vault removes them entirely). */
export function addVersion(secret, data, now) {
  const n = secret.currentVersion + 1;
  secret.versions.set(n, { data, createdTime: now, deletionTime: '', destroyed: false });
  secret.currentVersion = n;
  secret.updatedTime = now;
  const max = secret.maxVersions || DEFAULT_MAX_VERSIONS;
  while (secret.versions.size > max) secret.versions.delete(Math.min(...secret.versions.keys()));
  secret.oldestVersion = Math.min(...secret.versions.keys());
  return n;
}
