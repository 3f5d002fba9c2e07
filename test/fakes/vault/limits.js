// Vault's documented limits and error bodies for KV v2 (the fake answers exactly these).
export const CUSTOM_METADATA_MAX_KEYS = 64;
export const CUSTOM_METADATA_MAX_KEY_BYTES = 128;
export const CUSTOM_METADATA_MAX_VALUE_BYTES = 512;

export const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
export const CAS_REQUIRED = 'check-and-set parameter required for this call';

export const reply = (status, body) => ({ status, body });
export const errors = (status, ...messages) => reply(status, { errors: messages });
export const permissionDenied = () => errors(403, 'permission denied');
export const sealed = () => errors(503, 'Vault is sealed');
export const notFound = () => errors(404);

/** Vault's custom_metadata validation: every problem listed, the request refused whole. */
export function customMetadataProblems(custom) {
  if (custom === null || custom === undefined) return [];
  if (typeof custom !== 'object' || Array.isArray(custom)) return ['custom_metadata must be a map of strings'];
  const problems = [];
  const entries = Object.entries(custom);
  if (entries.length > CUSTOM_METADATA_MAX_KEYS) problems.push(`payload must contain at most ${CUSTOM_METADATA_MAX_KEYS} keys, provided: ${entries.length}`);
  for (const [key, value] of entries) {
    if (Buffer.byteLength(key) > CUSTOM_METADATA_MAX_KEY_BYTES) problems.push(`length of key "${key.slice(0, 20)}..." is ${Buffer.byteLength(key)} bytes, which exceeds the limit of ${CUSTOM_METADATA_MAX_KEY_BYTES}`);
    if (typeof value !== 'string') problems.push(`value of key "${key}" is not a string`);
    else if (Buffer.byteLength(value) > CUSTOM_METADATA_MAX_VALUE_BYTES) problems.push(`length of value for key "${key}" is ${Buffer.byteLength(value)} bytes, which exceeds the limit of ${CUSTOM_METADATA_MAX_VALUE_BYTES}`);
  }
  return problems.length ? [`custom_metadata validation failed: ${problems.join('; ')}`] : [];
}
