import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { notify } from '../../dist/notify/webhook.js';

const servers = [];
after(() => servers.forEach((server) => server.closeAllConnections?.() ?? server.close()));

/** A loopback server answering `status` (or never answering when `hang`); records every request. */
async function server({ status = 200, hang = false } = {}) {
  const requests = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body) });
      if (!hang) res.writeHead(status).end('ok');
    });
  });
  servers.push(srv);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  return { requests, url: (path = '/hook') => `http://127.0.0.1:${port}${path}`, close: () => new Promise((r) => srv.close(r)) };
}

function fakeLog() {
  const entries = [];
  const method = (level) => (object, message) => entries.push({ level, object, message });
  const log = { trace: method('trace'), debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
  log.child = () => log;
  return { log, entries, warnings: () => entries.filter((e) => e.level === 'warn') };
}

const EVENT = {
  event: 'switched',
  secret: 'api-key',
  environment: 'prod',
  rotationId: 'r-123',
  fromVersion: 'v-1',
  toVersion: 'v-2',
  at: '2025-01-02T03:04:05.000Z',
  operator: 'alice@host',
  reason: 'scheduled',
  ticket: null,
  emergency: false,
};

test('POSTs the event as JSON with a one-line Slack-compatible text', async () => {
  const hook = await server();
  const { log, entries } = fakeLog();
  await notify([{ webhook: hook.url('/hook?token=t'), on: ['switched', 'failed'] }], EVENT, log);
  assert.equal(hook.requests.length, 1);
  const [request] = hook.requests;
  assert.equal(request.method, 'POST');
  assert.equal(request.url, '/hook?token=t');
  assert.match(request.headers['content-type'], /^application\/json/);
  assert.deepEqual(request.body, {
    ...EVENT,
    text: 'keyshift: api-key/prod switched v-1 → v-2 (reason: scheduled, operator: alice@host)',
  });
  assert.deepEqual(entries.filter((e) => e.level === 'warn'), []);
});

test('a failed event carries its error in the body and the text', async () => {
  const hook = await server();
  const { log } = fakeLog();
  const failed = { ...EVENT, event: 'failed', toVersion: null, fromVersion: 'v-1', ticket: 'OPS-7', emergency: true, error: 'verify[0] curl exited 1' };
  await notify([{ webhook: hook.url(), on: ['failed'] }], failed, log);
  const [request] = hook.requests;
  assert.equal(request.body.error, 'verify[0] curl exited 1');
  assert.equal(request.body.ticket, 'OPS-7');
  assert.equal(request.body.emergency, true);
  assert.equal(request.body.text, 'keyshift: api-key/prod failed v-1: verify[0] curl exited 1 (reason: scheduled, operator: alice@host, ticket: OPS-7, emergency)');
  assert.ok(!request.body.text.includes('\n'));
});

test('only targets whose on lists the event are called', async () => {
  const yes = await server();
  const no = await server();
  const { log } = fakeLog();
  await notify(
    [
      { webhook: yes.url('/a'), on: ['switched'] },
      { webhook: no.url('/b'), on: ['failed', 'decommissioned'] },
      { webhook: yes.url('/c'), on: ['failed', 'switched'] },
    ],
    EVENT,
    log,
  );
  assert.deepEqual(yes.requests.map((r) => r.url).sort(), ['/a', '/c']);
  assert.equal(no.requests.length, 0);
  await notify([], EVENT, log);
});

test('a 500, an unreachable port and a hanging server do not throw and are logged without the query', async () => {
  const failing = await server({ status: 500 });
  const hanging = await server({ hang: true });
  const closed = await server();
  const closedUrl = closed.url('/gone?token=secret-ish');
  await closed.close();
  const ok = await server();
  const { log, warnings } = fakeLog();
  const started = Date.now();
  await notify(
    [
      { webhook: failing.url('/fail?token=secret-ish'), on: ['switched'] },
      { webhook: closedUrl, on: ['switched'] },
      { webhook: hanging.url('/hang'), on: ['switched'] },
      { webhook: ok.url('/ok'), on: ['switched'] },
    ],
    EVENT,
    log,
    300,
  );
  assert.ok(Date.now() - started < 3_000, 'targets run in parallel and the timeout applies');
  assert.equal(ok.requests.length, 1, 'a failing webhook does not stop the others');
  const logged = warnings();
  assert.equal(logged.length, 3, JSON.stringify(logged));
  for (const entry of logged) {
    assert.equal(entry.message, 'webhook failed');
    assert.ok(!JSON.stringify(entry.object).includes('token'), JSON.stringify(entry.object));
  }
  // Webhooks are named by origin only: for Slack-style URLs the path is the credential.
  const byOrigin = Object.fromEntries(logged.map((e) => [new URL(e.object.webhook.replace('/…', '')).origin, e.object]));
  const origin = (url) => new URL(url).origin;
  assert.deepEqual(byOrigin[origin(failing.url('/fail'))], { webhook: `${origin(failing.url('/fail'))}/…`, status: 500 });
  assert.equal(byOrigin[origin(closedUrl)].err, 'ECONNREFUSED');
  assert.deepEqual(byOrigin[origin(hanging.url('/hang'))], { webhook: `${origin(hanging.url('/hang'))}/…`, err: 'timed out' });
  for (const entry of logged) assert.ok(!entry.object.webhook.includes('/fail') && !entry.object.webhook.includes('/hang'));
});

test('credentials in the URL are never logged', async () => {
  const { log, warnings } = fakeLog();
  await notify([{ webhook: 'http://user:pw@127.0.0.1:9/x?k=v', on: ['switched'] }], EVENT, log, 300);
  const [entry] = warnings();
  assert.equal(entry.object.webhook, 'http://127.0.0.1:9/…');
  assert.ok(!JSON.stringify(entry.object).includes('pw'), JSON.stringify(entry.object));
});
