// A loopback Vault (KV v2 over HTTP), built from Vault's documented API: X-Vault-Token, optional
// X-Vault-Namespace, /v1/<mount>/{data,metadata,destroy}/<path>, 403 permission denied, 503 sealed.
//   const vault = await startVault({ token: 't', mounts: ['secret'] });
//   vault.address, vault.seed('secret', 'app/key', { value: 'x' }), vault.inspect('secret', 'app/key'),
//   vault.seal() / unseal(), vault.deny((method, path) => true | 'drop'), vault.calls, vault.afterCall(fn), await vault.close()
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { destroyVersions, readData, readMetadata, writeData, writeMetadata } from './operations.js';
import { errors, permissionDenied, sealed } from './limits.js';
import { addVersion, metadataOut, newSecret } from './state.js';

export async function startVault({ token = 'root-token', mounts = ['secret'], namespace = null, tls = null } = {}) {
  const kv = new Map(mounts.map((m) => [m, new Map()]));
  const calls = [];
  const listeners = new Set();
  let isSealed = false;
  let denied = () => false;

  const handle = (method, url, headers, body) => {
    if (isSealed) return sealed();
    if (headers['x-vault-token'] !== token) return permissionDenied();
    if ((headers['x-vault-namespace'] ?? null) !== namespace) return permissionDenied();
    const match = url.pathname.match(/^\/v1\/(.+?)\/(data|metadata|destroy)\/(.+)$/);
    const mount = match && [...kv.keys()].find((m) => m === match[1]);
    if (!match || !mount) return errors(404, `no handler for route "${url.pathname.replace(/^\/v1\//, '')}". route entry not found.`);
    const [, , kind, path] = match;
    const refusal = denied(method, `${mount}/${kind}/${path}`);
    if (refusal === 'drop') return { drop: true }; // the connection dies before any answer (a crash, a network cut)
    if (refusal) return permissionDenied();
    const secrets = kv.get(mount);
    const now = new Date().toISOString();
    if (kind === 'data' && method === 'GET') return readData(secrets, path, url.searchParams);
    if (kind === 'data' && (method === 'POST' || method === 'PUT')) return writeData(secrets, path, body, now);
    if (kind === 'metadata' && method === 'GET') return readMetadata(secrets, path);
    if (kind === 'metadata' && (method === 'POST' || method === 'PUT')) return writeMetadata(secrets, path, body, now);
    if (kind === 'destroy' && (method === 'POST' || method === 'PUT')) return destroyVersions(secrets, path, body);
    return errors(405, 'unsupported operation');
  };

  const serve = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://vault');
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      let answer;
      try {
        body = raw ? JSON.parse(raw) : null;
        answer = handle(req.method, url, req.headers, body);
      } catch {
        answer = errors(400, 'failed to parse JSON input');
      }
      if (answer.drop) {
        calls.push({ method: req.method, path: url.pathname + url.search, status: 0, body: raw, headers: { ...req.headers } });
        req.socket.destroy();
        return;
      }
      calls.push({ method: req.method, path: url.pathname + url.search, status: answer.status, body: raw, headers: { ...req.headers } });
      for (const listener of listeners) listener({ method: req.method, path: url.pathname, index: calls.length - 1 });
      res.writeHead(answer.status, { 'Content-Type': 'application/json' });
      res.end(answer.body === null ? undefined : JSON.stringify(answer.body));
    });
  };
  // tls: { key, cert } (PEM) serves https, for VAULT_CACERT.
  const server = tls ? createTlsServer(tls, serve) : createServer(serve);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const secretsOf = (mount) => kv.get(mount);

  return {
    address: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    token,
    calls,
    seal: () => (isSealed = true),
    unseal: () => (isSealed = false),
    deny: (fn) => (denied = fn),
    /** Calls `fn({ method, path, index })` after each answered request (before the reply is sent);
     * returns a function that stops it. Record what it sees and assert after: a throw here is lost. */
    afterCall(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    /** A secret as `vault kv put` leaves it. */
    seed(mount, path, data, { maxVersions = 0 } = {}) {
      const secrets = secretsOf(mount);
      const secret = secrets.get(path) ?? newSecret(new Date().toISOString());
      secret.maxVersions = maxVersions || secret.maxVersions;
      secrets.set(path, secret);
      addVersion(secret, structuredClone(data), new Date().toISOString());
    },
    /** Metadata plus every version's data (null when destroyed), for assertions. */
    inspect(mount, path) {
      const secret = secretsOf(mount).get(path);
      if (!secret) return null;
      return { ...metadataOut(secret), data: Object.fromEntries([...secret.versions].map(([n, v]) => [n, v.data && structuredClone(v.data)])) };
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
