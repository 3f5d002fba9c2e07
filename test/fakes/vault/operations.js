// KV v2 operations of the fake Vault: data, metadata and destroy, with Vault's JSON shapes.
import { addVersion, metadataOut, newSecret } from './state.js';
import { CAS_MISMATCH, CAS_REQUIRED, customMetadataProblems, errors, notFound, reply } from './limits.js';

export function readData(secrets, path, query) {
  const secret = secrets.get(path);
  if (!secret || secret.currentVersion === 0) return notFound();
  const n = Number(query.get('version') || 0) || secret.currentVersion;
  const version = secret.versions.get(n);
  if (!version) return notFound();
  const metadata = { created_time: version.createdTime, custom_metadata: secret.customMetadata, deletion_time: version.deletionTime, destroyed: version.destroyed, version: n };
  if (version.destroyed || version.deletionTime) return reply(404, { data: { data: null, metadata } });
  return reply(200, { data: { data: structuredClone(version.data), metadata } });
}

export function writeData(secrets, path, body, now) {
  if (!body || typeof body.data !== 'object' || body.data === null || Array.isArray(body.data)) return errors(400, 'no data provided');
  const secret = secrets.get(path);
  const cas = body.options?.cas;
  if (cas === undefined && secret?.casRequired) return errors(400, CAS_REQUIRED);
  if (cas !== undefined && cas !== (secret?.currentVersion ?? 0)) return errors(400, CAS_MISMATCH);
  const target = secret ?? newSecret(now);
  secrets.set(path, target);
  const n = addVersion(target, structuredClone(body.data), now);
  return reply(200, { data: { created_time: now, custom_metadata: target.customMetadata, deletion_time: '', destroyed: false, version: n } });
}

export function readMetadata(secrets, path) {
  const secret = secrets.get(path);
  return secret ? reply(200, { data: metadataOut(secret) }) : notFound();
}

export function writeMetadata(secrets, path, body, now) {
  body = body ?? {};
  const problems = customMetadataProblems(body.custom_metadata);
  if (problems.length) return errors(400, ...problems);
  if (body.max_versions !== undefined && !(Number.isInteger(body.max_versions) && body.max_versions >= 0)) return errors(400, 'max_versions must be a non-negative integer');
  const secret = secrets.get(path) ?? newSecret(now);
  secrets.set(path, secret);
  if (body.max_versions !== undefined) secret.maxVersions = body.max_versions;
  if (body.cas_required !== undefined) secret.casRequired = Boolean(body.cas_required);
  if (body.custom_metadata !== undefined) secret.customMetadata = body.custom_metadata === null ? null : { ...body.custom_metadata };
  secret.updatedTime = now;
  return reply(204, null);
}

export function destroyVersions(secrets, path, body) {
  if (!body || !Array.isArray(body.versions) || body.versions.length === 0) return errors(400, 'no version number provided');
  const secret = secrets.get(path);
  if (!secret) return reply(204, null); // Vault answers a destroy of nothing with success
  for (const n of body.versions) {
    const version = secret.versions.get(Number(n));
    if (version) {
      version.destroyed = true;
      version.data = null;
    }
  }
  return reply(204, null);
}
