import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ExitCode, KeyshiftError } from '../../errors.js';
import type { VaultKv2StoreSpec } from '../../policy/types.js';

const DOC = 'docs/stores/vault-kv2.md';

/** What the store needs from Vault's HTTP API: one JSON request, its status and body. */
export interface VaultReply {
  status: number;
  body: { data?: unknown; errors?: string[] } & Record<string, unknown>;
}

/**
 * Vault's HTTP API the way the Vault CLI reaches it: VAULT_ADDR, VAULT_TOKEN (else ~/.vault-token),
 * VAULT_NAMESPACE and VAULT_CACERT. node:https rather than fetch, because Node's fetch takes a
 * custom CA only through undici's Agent, which is not a dependency.
 */
export class VaultHttp {
  readonly address: string;
  readonly #token: string;
  readonly #namespace: string | null;
  readonly #ca: Buffer | undefined;

  constructor(spec: VaultKv2StoreSpec, env: NodeJS.ProcessEnv) {
    this.address = (spec.address ?? env.VAULT_ADDR ?? 'https://127.0.0.1:8200').replace(/\/+$/, '');
    this.#namespace = spec.namespace ?? (env.VAULT_NAMESPACE || null);
    this.#token = readToken(spec, env);
    this.#ca = env.VAULT_CACERT ? readCa(env.VAULT_CACERT) : undefined;
  }

  async call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<VaultReply> {
    const url = new URL(`${this.address}/v1/${path}`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { 'X-Vault-Token': this.#token, 'X-Vault-Request': 'true' };
    if (this.#namespace) headers['X-Vault-Namespace'] = this.#namespace;
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) });
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<VaultReply>((resolve, reject) => {
      const req = send(url, { method, headers, timeout: 30_000, ...(this.#ca ? { ca: this.#ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: VaultReply['body'] = {};
          try {
            parsed = text ? (JSON.parse(text) as VaultReply['body']) : {};
          } catch {
            parsed = { errors: [`a reply that is not JSON (HTTP ${res.statusCode})`] };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', (error) =>
        reject(new KeyshiftError('ERR_STORE_UNAVAILABLE', `${method} ${url.pathname}: Vault at ${this.address} did not answer (${error.message})`, { hint: 'check VAULT_ADDR (or the store\'s address) and VAULT_CACERT', retryable: true })),
      );
      req.end(payload);
    });
  }
}

function readToken(spec: VaultKv2StoreSpec, env: NodeJS.ProcessEnv): string {
  const file = spec.tokenFile ?? (env.VAULT_TOKEN ? null : join(env.HOME || homedir(), '.vault-token'));
  if (!file) return (env.VAULT_TOKEN as string).trim();
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  } catch {
    // reported below: the same fix either way
  }
  throw new KeyshiftError('ERR_VAULT_TOKEN', `no Vault token: ${spec.tokenFile ? `tokenFile ${file} is missing or empty` : `VAULT_TOKEN is not set and ${file} does not exist`}`, {
    exitCode: ExitCode.usage,
    hint: `set VAULT_TOKEN, run vault login, or set tokenFile in the store (${DOC}#authentication)`,
  });
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new KeyshiftError('ERR_VAULT_CACERT', `VAULT_CACERT ${path} cannot be read (${(error as Error).message})`, { exitCode: ExitCode.usage, hint: 'point VAULT_CACERT at a PEM file of the CA that signed Vault\'s certificate' });
  }
}

/** Vault's answer as keyshift's error codes (never with a value: Vault's errors hold none). */
export function vaultError(what: string, address: string, reply: VaultReply): KeyshiftError {
  const detail = (reply.body.errors ?? []).join('; ') || `HTTP ${reply.status}`;
  const where = `${what} at ${address}`;
  if (reply.status === 403) return new KeyshiftError('ERR_STORE_ACCESS_DENIED', `${where}: permission denied (${detail})`, { hint: `the token's policy must allow the paths in ${DOC}#vault-policy` });
  if (reply.status === 404) return new KeyshiftError('ERR_STORE_NOT_FOUND', `${where}: not found (${detail})`, { hint: 'check the mount (a KV version 2 engine) and the path' });
  if (reply.status === 429) return new KeyshiftError('ERR_STORE_THROTTLED', `${where}: rate limited (${detail})`, { retryable: true });
  if (reply.status === 503) return new KeyshiftError('ERR_STORE_UNAVAILABLE', `${where}: Vault is unavailable (${detail})`, { hint: 'unseal Vault (vault operator unseal) or wait for it, then rerun', retryable: true });
  if (reply.status >= 500) return new KeyshiftError('ERR_STORE_UNAVAILABLE', `${where}: Vault failed (${detail})`, { retryable: true });
  return new KeyshiftError('ERR_STORE_REQUEST', `${where}: Vault refused the request (${detail})`);
}
