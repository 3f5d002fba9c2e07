// Loopback HTTP server speaking AWS JSON 1.1, shared by the Secrets Manager and KMS fakes.
// The real AWS SDK v3 clients talk to it (endpoint: server.endpoint); signatures are not checked.
// It adds what the services have around their operations: request quotas (token buckets),
// injected faults, an access-denied switch, and hooks that let a test act between two calls.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createQuotas } from './quotas.js';

/** A modelled service error: becomes `{"__type": code, "message": ...}` with `status`. */
export class AwsError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export const FAULT_KINDS = ['throttle', '500', 'drop', 'timeout', 'echo'];

/**
 * @param {object} options
 * @param {string} options.targetPrefix  'secretsmanager' or 'TrentService'
 * @param {string} options.service       IAM prefix for access-denied messages ('secretsmanager', 'kms')
 * @param {Record<string, (input: any, ctx: {op: string, index: number}) => any>} options.handlers
 * @param {Record<string, string>} options.quotaClassOf   op -> quota class
 * @param {Record<string, number>} options.defaultQuotas   class -> calls per second
 * @param {Record<string, number|false|null>|false} [options.quotas]  overrides (false/null = unlimited)
 * @param {string} options.internalErrorCode  the service's 500 code
 * @param {string} options.throttleMessage
 * @param {(op: string, input: any) => string[]} [options.resourcesOf]  identifiers for deny() and the log
 * @param {string} options.accountId
 * @param {() => void} [options.beforeEach]  runs before every call (e.g. expire scheduled deletions)
 * @param {{region: string, service: string}} [options.signingScope]  checked against a signed request's credential scope
 * @param {string} [options.contentType]  the protocol's content type (DynamoDB: application/x-amz-json-1.0)
 */
export async function startAwsJsonServer(options) {
  const { targetPrefix, handlers, internalErrorCode } = options;
  const resourcesOf = options.resourcesOf ?? (() => []);
  const quotas = createQuotas(options.quotaClassOf, options.defaultQuotas, options.quotas);
  const calls = [];
  const faults = [];
  const denials = [];
  const beforeHooks = [];
  const afterHooks = [];
  const sockets = new Set();
  const held = new Set(); // requests held open by 'timeout' faults
  const entryOf = new WeakMap(); // response -> its log entry

  const httpServer = createServer((req, res) => {
    res.on('error', () => {}); // the client may be gone (SIGKILL, timeout): nothing to tell it
    handle(req, res).catch((err) => {
      // A bug in a handler, or a hook that threw: answer 500 rather than hang the client.
      reply(res, entryOf.get(res) ?? {}, new AwsError(internalErrorCode, `fake: ${err?.message ?? err}`, 500));
    });
  });
  httpServer.keepAliveTimeout = 60_000;
  httpServer.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address();

  async function handle(req, res) {
    const body = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith(`${targetPrefix}.`) ? target.slice(targetPrefix.length + 1) : target;
    const entry = { index: calls.length, op, status: null, attempt: attemptOf(req) };
    entryOf.set(res, entry);
    calls.push(entry);

    const scopeError = options.signingScope && wrongScope(req.headers.authorization, options.signingScope);
    if (scopeError) return reply(res, entry, scopeError);
    if (req.method !== 'POST' || !Object.hasOwn(handlers, op)) {
      return reply(res, entry, new AwsError('UnknownOperationException', `Unknown operation ${target}`));
    }
    let input;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      input = undefined;
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      return reply(res, entry, new AwsError('SerializationException', 'Start of structure or map found where not expected.'));
    }
    entry.input = input; // what keyshift sent, for the tests' checks (the leak suite looks for its canary)
    const resources = safeResources(op, input);
    if (resources.length > 0) entry.resource = resources[0];
    options.beforeEach?.();

    const fault = takeFault(op);
    if (fault && !fault.afterApply) return runFault(fault, req, res, entry, body);

    if (!quotas.take(op)) {
      return reply(res, entry, new AwsError('ThrottlingException', options.throttleMessage));
    }
    const denied = denials.find((d) => (!d.op || d.op === op) && (!d.resource || resources.includes(d.resource)));
    if (denied) return reply(res, entry, accessDenied(op, resources[0] ?? '*'));

    const call = { op, input, index: entry.index };
    for (const hook of [...beforeHooks]) await hook(call);
    let output;
    let error;
    try {
      output = await handlers[op](input, { op, index: entry.index });
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      error = err;
    }
    for (const hook of [...afterHooks]) await hook({ ...call, output, error });

    if (fault) return runFault(fault, req, res, entry, body);
    return reply(res, entry, error, output);
  }

  function reply(res, entry, error, output) {
    if (res.headersSent) return undefined;
    if (error) {
      entry.status = error.status;
      entry.errorCode = error.code;
      return send(res, error.status, { __type: error.code, message: error.message }, options.contentType);
    }
    entry.status = 200;
    return send(res, 200, output === undefined ? undefined : toWire(output), options.contentType);
  }

  function runFault(fault, req, res, entry, body) {
    entry.fault = fault.kind;
    // 'echo': a 400 whose message quotes the request body, as some proxies and emulators do.
    if (fault.kind === 'echo') return reply(res, entry, new AwsError('ValidationException', `1 validation error detected: request ${body.toString('utf8')} failed to satisfy constraint`));
    if (fault.kind === 'throttle') return reply(res, entry, new AwsError('ThrottlingException', options.throttleMessage));
    if (fault.kind === '500') return reply(res, entry, new AwsError(internalErrorCode, 'An internal error occurred.', 500));
    if (fault.kind === 'drop') {
      req.socket.destroy();
      return undefined;
    }
    // 'timeout': never answer; forget the request once the client gives up or the server closes.
    held.add(res);
    res.on('close', () => held.delete(res));
    return undefined;
  }

  // Every armed fault counts the calls it matches; the first one due fires.
  function takeFault(op) {
    const armed = faults.filter((f) => (!f.op || f.op === op) && f.fired < f.times);
    for (const fault of armed) fault.seen += 1;
    const due = armed.find((f) => f.seen >= f.nth);
    if (due) due.fired += 1;
    return due;
  }

  function safeResources(op, input) {
    try {
      return resourcesOf(op, input).filter((r) => typeof r === 'string' && r.length > 0);
    } catch {
      return [];
    }
  }

  function accessDenied(op, resource) {
    const action = `${options.service}:${op}`;
    return new AwsError(
      'AccessDeniedException',
      `User: arn:aws:iam::${options.accountId}:user/keyshift-test is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
    );
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    /** Every request received, in arrival order: {index, op, input, status, errorCode?, fault?, attempt, resource?}. */
    calls,
    /** Per quota class: {rate, served, throttled}. */
    stats: () => quotas.stats(),
    /** Change quotas at run time: {class: rate|false|null}; `false` alone makes every class unlimited. */
    setQuotas: (next) => quotas.set(next),
    /**
     * Fail matching calls: the nth matching call from now (1 = the next one) and the `times - 1`
     * after it. `afterApply: true` applies the call first, then fails the response (a lost reply).
     */
    injectFault({ op, nth = 1, kind, times = 1, afterApply = false }) {
      if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind ${kind}; use one of ${FAULT_KINDS.join(', ')}`);
      const fault = { op, nth, kind, times, afterApply, seen: 0, fired: 0 };
      faults.push(fault);
      return {
        get fired() {
          return fault.fired;
        },
        cancel: () => faults.splice(faults.indexOf(fault) >>> 0, 1),
      };
    },
    clearFaults: () => void faults.splice(0),
    /** How many requests a 'timeout' fault is holding open right now. */
    hangingRequests: () => held.size,
    /** How many client connections are open now (a keep-alive socket stays open until its client is destroyed). */
    openConnections: () => sockets.size,
    /** Runs before a call that passed faults, quotas and denials is applied; may return a promise. */
    onCall: (fn) => addHook(beforeHooks, fn),
    /** Runs after the call is applied, before the response is sent: receives {op, input, index, output, error}. */
    afterCall: (fn) => addHook(afterHooks, fn),
    /** Answer AccessDeniedException for calls matching op and/or resource (name, ARN, key id, alias). */
    deny({ op, resource } = {}) {
      const rule = { op, resource };
      denials.push(rule);
      return () => denials.splice(denials.indexOf(rule) >>> 0, 1);
    },
    allow: () => void denials.splice(0),
    async close() {
      const closed = new Promise((resolve) => httpServer.close(resolve));
      for (const res of held) res.destroy();
      httpServer.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** JSON for the wire: Dates as epoch seconds, bytes as base64, undefined members dropped. */
export function toWire(value) {
  if (value instanceof Date) return value.getTime() / 1000;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, member] of Object.entries(value)) if (member !== undefined) out[key] = toWire(member);
    return out;
  }
  return value;
}

/**
 * The SigV4 credential scope (`Credential=AKID/date/region/service/aws4_request`) must name the
 * endpoint's Region and service; the signature itself is not checked. AWS's JSON services answer a
 * wrong scope with InvalidSignatureException and these messages (as reported in
 * aws/aws-sdk-js-v3#5576, aws/aws-sdk-java#1097, fsouza/s3-upload-proxy#241); the 400 status is the
 * fake's choice (a REST service answered 403 in #5576).
 */
function wrongScope(authorization, expected) {
  const match = /Credential=[^/,]+\/\d{8}\/([^/,]*)\/([^/,]*)\/aws4_request/.exec(String(authorization ?? ''));
  if (!match) return undefined; // unsigned: the fake does not require signatures
  const [, region, service] = match;
  if (region !== expected.region) return new AwsError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'. `);
  if (service !== expected.service) return new AwsError('InvalidSignatureException', `Credential should be scoped to correct service: '${expected.service}'. `);
  return undefined;
}

function addHook(list, fn) {
  list.push(fn);
  return () => list.splice(list.indexOf(fn) >>> 0, 1);
}

function send(res, status, payload, contentType = 'application/x-amz-json-1.1') {
  if (res.destroyed) return;
  const body = payload === undefined ? '' : JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

function attemptOf(req) {
  const match = /attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''));
  return match ? Number(match[1]) : undefined;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
