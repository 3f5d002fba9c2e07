/**
 * `keyshift/envelope`: the ks1 field format for applications (docs/envelope.md). An application
 * seals with CURRENT and opens with CURRENT or PREVIOUS, so it keeps reading every row while
 * `keyshift reencrypt` moves them to the new key.
 */
export { EnvelopeError, FIELD_PREFIX, aadBytes, keyring, open, openText, seal, versionOf } from '../reencrypt/envelope.js';
export type { EnvelopeErrorCode, KeyMaterial, KeyVersion, Keyring, RowAad } from '../reencrypt/envelope.js';
