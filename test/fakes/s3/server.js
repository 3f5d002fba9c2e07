// Loopback S3 for tests: the real @aws-sdk/client-s3 talks to it over S3's REST/XML protocol,
// path-style (`http://127.0.0.1:port/bucket/key`, the SDK's forcePathStyle), SigV4-signed with the
// static test credentials, which the fake checks (sigv4.js). Only what shipping evidence needs:
// PutObject (with the Object Lock headers and the checksum S3 requires with them), GetObject,
// HeadObject, ListObjectsV2, DeleteObject, Get/PutObjectRetention, GetObjectLockConfiguration.
import { createServer } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { S3Error, createS3State } from './state.js';
import { signatureProblem } from './sigv4.js';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const LOCK_MODES = ['COMPLIANCE', 'GOVERNANCE'];

/**
 * @param {object} [options]
 * @param {Record<string, {objectLock?: boolean, versioning?: boolean, defaultRetention?: {mode, days}}>} [options.buckets]
 * @param {Record<string, string>} [options.credentials]  access key id -> secret (default AKIDTEST -> test)
 * @param {() => Date} [options.now]
 */
export async function startS3({ buckets = {}, credentials = { AKIDTEST: 'test' }, now = () => new Date() } = {}) {
  const state = createS3State({ now });
  for (const [name, config] of Object.entries(buckets)) state.createBucket(name, config);
  const calls = [];
  const faults = [];
  const denials = [];
  const sockets = new Set();

  const server = createServer((req, res) => {
    res.on('error', () => {});
    handle(req, res).catch((error) => send(res, {}, req.method, new S3Error('InternalError', `fake: ${error?.message ?? error}`, 500)));
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  async function handle(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://localhost');
    const [, bucketName = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const op = operationOf(req.method, url, key);
    const entry = { index: calls.length, op, bucket: bucketName, key, headers: { ...req.headers }, body, status: null };
    calls.push(entry);

    const problem = signatureProblem(req, url, body, credentials);
    if (problem) return send(res, entry, req.method, new S3Error(problem.code, problem.message, problem.status));
    const fault = takeFault(op);
    if (fault && !fault.afterApply) return runFault(fault, req, res, entry);
    const denial = denials.find((d) => !d.op || d.op === op);
    if (denial) return send(res, entry, req.method, new S3Error(denial.code, denial.message, 403));
    let result;
    try {
      result = apply(op, req, url, bucketName, key, body);
    } catch (error) {
      if (!(error instanceof S3Error)) throw error;
      return send(res, entry, req.method, error);
    }
    if (fault) return runFault(fault, req, res, entry);
    return send(res, entry, req.method, null, result);
  }

  function apply(op, req, url, bucketName, key, body) {
    const h = req.headers;
    const versionId = url.searchParams.get('versionId') ?? undefined;
    const bypass = h['x-amz-bypass-governance-retention'] === 'true';
    switch (op) {
      case 'GetObjectLockConfiguration': {
        const config = state.lockConfiguration(bucketName);
        const rule = config.defaultRetention ? `<Rule><DefaultRetention><Mode>${config.defaultRetention.mode}</Mode><Days>${config.defaultRetention.days}</Days></DefaultRetention></Rule>` : '';
        return { xml: `<ObjectLockConfiguration xmlns="${XMLNS}"><ObjectLockEnabled>Enabled</ObjectLockEnabled>${rule}</ObjectLockConfiguration>` };
      }
      case 'PutObject': {
        const retention = lockHeaders(h);
        checkIntegrity(h, body, retention !== null, 'Put Object');
        const metadata = Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('x-amz-meta-')).map(([k, v]) => [k.slice(11), String(v)]));
        const version = state.put(bucketName, key, { body, metadata, contentType: h['content-type'], retention, ifNoneMatch: h['if-none-match'] === '*' });
        return { headers: { ETag: version.etag, ...(version.versionId !== 'null' ? { 'x-amz-version-id': version.versionId } : {}) } };
      }
      case 'GetObject':
      case 'HeadObject': {
        const version = state.get(bucketName, key, versionId);
        return { headers: objectHeaders(version), body: op === 'GetObject' ? version.body : null, contentType: version.contentType };
      }
      case 'ListObjectsV2': {
        const maxKeys = Number(url.searchParams.get('max-keys') ?? 1000);
        const startAfter = url.searchParams.get('continuation-token') ?? url.searchParams.get('start-after') ?? '';
        const prefix = url.searchParams.get('prefix') ?? '';
        const { keys, truncated } = state.list(bucketName, { prefix, startAfter, maxKeys });
        const contents = keys.map(({ key: k, version }) => `<Contents><Key>${escapeXml(k)}</Key><LastModified>${version.lastModified.toISOString()}</LastModified><ETag>${escapeXml(version.etag)}</ETag><Size>${version.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('');
        const next = truncated ? `<NextContinuationToken>${escapeXml(keys.at(-1).key)}</NextContinuationToken>` : '';
        return { xml: `<ListBucketResult xmlns="${XMLNS}"><Name>${bucketName}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${next}</ListBucketResult>` };
      }
      case 'PutObjectRetention': {
        checkIntegrity(h, body, true, 'Put Object Retention');
        const mode = /<Mode>([^<]*)<\/Mode>/.exec(body.toString())?.[1];
        const until = /<RetainUntilDate>([^<]*)<\/RetainUntilDate>/.exec(body.toString())?.[1];
        state.putRetention(bucketName, key, versionId, validRetention(mode, until), { bypassGovernance: bypass });
        return {};
      }
      case 'GetObjectRetention': {
        const r = state.retention(bucketName, key, versionId);
        return { xml: `<Retention xmlns="${XMLNS}"><Mode>${r.mode}</Mode><RetainUntilDate>${r.until}</RetainUntilDate></Retention>` };
      }
      case 'DeleteObject':
        state.delete(bucketName, key, versionId, { bypassGovernance: bypass });
        return { status: 204 };
      default:
        throw new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented (fake S3: ${req.method} ${url.pathname}${url.search})`, 501);
    }
  }

  function lockHeaders(h) {
    const mode = h['x-amz-object-lock-mode'];
    const until = h['x-amz-object-lock-retain-until-date'];
    if (mode === undefined && until === undefined) return null;
    if (mode === undefined || until === undefined) {
      throw new S3Error('InvalidArgument', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
    }
    return validRetention(mode, until);
  }
  function validRetention(mode, until) {
    if (!LOCK_MODES.includes(mode)) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    const date = new Date(until);
    if (Number.isNaN(date.getTime())) throw new S3Error('InvalidArgument', 'The retain until date is not a valid date');
    if (date <= now()) throw new S3Error('InvalidArgument', 'The retain until date must be in the future!');
    return { mode, until: date.toISOString() };
  }

  // S3 requires Content-MD5 or an x-amz-checksum-* header on requests that set Object Lock
  // parameters, and checks whichever integrity header comes with any request.
  function checkIntegrity(h, body, required, what) {
    const md5 = h['content-md5'];
    const crc = h['x-amz-checksum-crc32'];
    const otherChecksum = Object.keys(h).some((k) => k.startsWith('x-amz-checksum-') && k !== 'x-amz-checksum-crc32');
    if (required && md5 === undefined && crc === undefined && !otherChecksum) {
      throw new S3Error('InvalidRequest', `Content-MD5 OR x-amz-checksum- HTTP header is required for ${what} requests with Object Lock parameters`);
    }
    if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    if (crc !== undefined) {
      const actual = Buffer.alloc(4);
      actual.writeUInt32BE(crc32(body));
      if (crc !== actual.toString('base64')) throw new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
    }
  }

  function runFault(fault, req, res, entry) {
    entry.fault = fault.kind;
    if (fault.kind === 'drop') return req.socket.destroy();
    return send(res, entry, req.method, fault.kind === 'slowdown' ? new S3Error('SlowDown', 'Please reduce your request rate.', 503) : new S3Error('InternalError', 'We encountered an internal error. Please try again.', 500));
  }
  function takeFault(op) {
    const due = faults.find((f) => (!f.op || f.op === op) && f.fired < f.times);
    if (due) due.fired += 1;
    return due;
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    /** Every request: {index, op, bucket, key, headers, body, status, errorCode?, fault?}. */
    calls,
    state,
    createBucket: (name, config) => state.createBucket(name, config),
    /** Every stored version of a key, oldest first: {versionId, body, metadata, retention, ...}. */
    versions: (bucketName, key) => state.versions(bucketName, key),
    /** Every current key under a prefix, in key order. */
    keys: (bucketName, prefix = '') => state.list(bucketName, { prefix, maxKeys: Infinity }).keys.map((k) => k.key),
    /** Fail the next `times` calls of `op`: kind '500', 'slowdown' (503 SlowDown) or 'drop'; `afterApply` applies first (a lost reply). */
    injectFault({ op, kind = '500', times = 1, afterApply = false }) {
      const fault = { op, kind, times, afterApply, fired: 0 };
      faults.push(fault);
      return { get fired() { return fault.fired; } };
    },
    clearFaults: () => void faults.splice(0),
    /** 403 for `op` (or every call), AccessDenied unless another 403 code is given (AllAccessDisabled, …); returns an undo function. */
    deny({ op, code = 'AccessDenied', message = 'Access Denied' } = {}) {
      const denial = { op, code, message };
      denials.push(denial);
      return () => denials.splice(denials.indexOf(denial) >>> 0, 1);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function operationOf(method, url, key) {
  const q = url.searchParams;
  if (!key) {
    if (method === 'GET' && q.has('object-lock')) return 'GetObjectLockConfiguration';
    if (method === 'GET' && q.get('list-type') === '2') return 'ListObjectsV2';
    return `${method} bucket`;
  }
  if (q.has('retention')) return method === 'PUT' ? 'PutObjectRetention' : 'GetObjectRetention';
  return { PUT: 'PutObject', GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[method] ?? `${method} object`;
}

function objectHeaders(version) {
  return {
    ETag: version.etag,
    'Last-Modified': version.lastModified.toUTCString(),
    'Content-Length': version.body.length,
    'Content-Type': version.contentType,
    ...(version.versionId !== 'null' ? { 'x-amz-version-id': version.versionId } : {}),
    ...(version.retention ? { 'x-amz-object-lock-mode': version.retention.mode, 'x-amz-object-lock-retain-until-date': version.retention.until } : {}),
    ...Object.fromEntries(Object.entries(version.metadata).map(([k, v]) => [`x-amz-meta-${k}`, v])),
  };
}

function send(res, entry, method, error, result = {}) {
  if (res.headersSent) return;
  const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  if (error) {
    entry.status = error.status;
    entry.errorCode = error.code;
    res.statusCode = error.status;
    if (method === 'HEAD') return res.end(); // S3 answers HEAD errors with a status and no body
    const extra = Object.entries(error.extra).map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
    res.setHeader('content-type', 'application/xml');
    return res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${extra}<RequestId>${requestId}</RequestId></Error>`);
  }
  entry.status = result.status ?? 200;
  res.statusCode = entry.status;
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  if (result.xml) {
    res.setHeader('content-type', 'application/xml');
    return res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${result.xml}`);
  }
  if (result.body !== undefined && result.body !== null) {
    res.setHeader('content-type', result.contentType);
    res.setHeader('content-length', result.body.length);
    return res.end(result.body);
  }
  return res.end();
}

function escapeXml(text) {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]);
}
