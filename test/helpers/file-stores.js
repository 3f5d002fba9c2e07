// Shared by the dotenv and k8s-secret end-to-end, crash and leak tests: fixtures, policies and
// readers that look at the files as a consumer would (the .env lines, the manifest's data).
import { readFileSync, existsSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export const CANARY = `KSCANARY${Math.random().toString(36).slice(2, 10)}`;
/** A generator whose every value starts with the canary, so a leak of any value is found. */
export const CANARY_GENERATOR = `{ type: command, run: [node, -e, "process.stdout.write('${CANARY}' + require('crypto').randomBytes(8).toString('hex'))"] }`;

export const DOTENV_FIXTURE = '# app settings (hand-written)\nexport DATABASE_URL="postgres://db/app" # primary\n\nWEBHOOK_SIGNING_KEY=hand-made-key\nLOG_LEVEL=debug\n';

export const k8sFixture = (name) => `# ${name} secrets, applied by the deploy hook
apiVersion: v1
kind: Secret
metadata:
  name: secrets-service-config
  namespace: ${name}
  labels:
    app: secrets-service
type: Opaque
data:
  # rotated by hand, not by keyshift
  DB_PASSWORD: cGFzc3dvcmQ=
  WEBHOOK_SIGNING_KEY: aGFuZC1tYWRlLWtleQ==
---
apiVersion: apps/v1
kind: Deployment
metadata:
    name: secrets-service   # 4-space indentation, kept as it is
spec:
    replicas: 2
`;

/** Values as a consumer reads them: { CURRENT, PENDING, PREVIOUS } of one variable or data key. */
export function readDotenv(path, name) {
  const out = {};
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    if (match[1] === name) out.CURRENT = match[2];
    if (match[1] === `${name}_PENDING`) out.PENDING = match[2];
    if (match[1] === `${name}_PREVIOUS`) out.PREVIOUS = match[2];
  }
  return out;
}

export function readK8s(path, name, key) {
  const out = {};
  if (!existsSync(path)) return out;
  const doc = parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJSON()).find((d) => d?.kind === 'Secret' && d.metadata?.name === name);
  const data = doc?.data ?? {};
  const decode = (k) => (data[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8'));
  for (const [stage, suffix] of [['CURRENT', ''], ['PENDING', '_PENDING'], ['PREVIOUS', '_PREVIOUS']]) {
    const value = decode(key + suffix);
    if (value !== undefined) out[stage] = value;
  }
  return out;
}

/** The lines of a file that are not keyshift's (`NAME`, `NAME_PENDING`, `NAME_PREVIOUS`, the state annotation). */
export function otherLines(text, names) {
  const own = new RegExp(`^\\s*(${names.join('|')})(_PENDING|_PREVIOUS)?[=:]|keyshift\\.io/state|^\\s*annotations:\\s*$`);
  return text.split('\n').filter((line) => !own.test(line));
}

/** Policy of `count` secrets in one store; `store(i)` gives the store line of secret i. */
export function manyFileSecrets(count, store, { hooks = '' } = {}) {
  let text = 'secrets:\n';
  for (let i = 0; i < count; i++) {
    text += `  - name: secret-${String(i).padStart(5, '0')}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: ${store(i)}\n${hooks}`;
  }
  return text;
}

export const variableOf = (i) => `SECRET_${String(i).padStart(5, '0')}`;
