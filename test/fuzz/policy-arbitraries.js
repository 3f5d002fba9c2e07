// fast-check arbitraries for policy files: valid policies built from the fields of
// docs/policies.md, and the ways a person or a tool damages them (structure and text).
import fc from 'fast-check';
import { stringify } from 'yaml';

const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const EVENTS = ['failed', 'switched', 'decommissioned', 'rolled-back', 'provisioned', 'issued', 'deployed', 'verified'];

const name = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
const envName = fc.oneof(fc.constantFrom('dev', 'staging', 'prod', 'qa', 'eu-1'), name);

/** The longest duration a policy accepts (docs/policies.md#durations): 100 years. */
const MAX_DURATION_MS = 36_500 * UNITS.d;

/** `<n><unit>` as milliseconds and text; mostly ordinary, sometimes up to the longest accepted. */
const duration = fc
  .constantFrom(...Object.keys(UNITS))
  .chain((unit) =>
    fc.tuple(fc.constant(unit), fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 1000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.floor(MAX_DURATION_MS / UNITS[unit]) }) })),
  )
  .map(([unit, n]) => ({ ms: n * UNITS[unit], text: `${n}${unit}` }));

/** Timeouts of hooks, command generators and http checks: at most 24h (docs/policies.md). */
const timeout = duration.filter((d) => d.ms <= 24 * UNITS.h);

const printable = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const argvWord = fc.oneof(fc.constantFrom('./deploy.sh', 'kubectl', '--env', 'prod', '8080', 'true', '-', '*'), printable);

const randomBytesGenerator = fc.record(
  { type: fc.constant('random'), bytes: fc.integer({ min: 16, max: 1024 }), encoding: fc.constantFrom('base64', 'base64url', 'hex') },
  { requiredKeys: ['type', 'bytes'] },
);
const passwordGenerator = fc.oneof(
  fc.record(
    { type: fc.constant('random'), length: fc.integer({ min: 8, max: 4096 }), charset: fc.constantFrom('alphanumeric', 'alphanumeric-symbols', 'hex', 'digits') },
    { requiredKeys: ['type', 'length'] },
  ),
  fc.record({
    type: fc.constant('random'),
    length: fc.integer({ min: 8, max: 4096 }),
    chars: fc.string({ unit: 'grapheme', minLength: 2, maxLength: 40 }).filter((s) => new Set(s).size >= 2),
  }),
);
const commandGenerator = fc.record(
  { type: fc.constant('command'), run: fc.array(argvWord, { minLength: 1, maxLength: 4 }), timeout: timeout.map((d) => d.text) },
  { requiredKeys: ['type', 'run'] },
);
const generator = fc.oneof({ weight: 3, arbitrary: randomBytesGenerator }, { weight: 2, arbitrary: passwordGenerator }, { weight: 1, arbitrary: commandGenerator });

const envVarName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/).filter((n) => !n.startsWith('KEYSHIFT_'));
const commandHook = fc.record(
  {
    run: fc.oneof(fc.array(argvWord, { minLength: 1, maxLength: 4 }), fc.constantFrom('./smoke.sh && ./check.sh', 'echo ok | cat', 'A=1 ./x.sh')),
    timeout: timeout.map((d) => d.text),
    env: fc.dictionary(envVarName, fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    cwd: printable,
  },
  { requiredKeys: ['run'] },
);
const url = fc.constantFrom('https://api.example.com/healthz', 'http://127.0.0.1:9/x?token=abc', 'https://user:pw@hooks.example.com/k', 'HTTP://EXAMPLE.COM');
const httpCheck = fc.record(
  {
    http: fc.record(
      { url, method: fc.constantFrom('GET', 'HEAD', 'POST'), expectStatus: fc.integer({ min: 100, max: 599 }), timeout: timeout.map((d) => d.text) },
      { requiredKeys: ['url'] },
    ),
  },
);
const notify = fc.array(
  fc.record({ webhook: url, on: fc.uniqueArray(fc.constantFrom(...EVENTS), { minLength: 1, maxLength: 8 }) }, { requiredKeys: ['webhook'] }),
  { minLength: 1, maxLength: 2 },
);

const localStore = fc.record(
  { type: fc.constant('local'), path: fc.constantFrom('.keyshift/', 'stores/', 'stores/été-', 'deep/er/x ', '.keyshift/日本-'), key: fc.stringMatching(/^[A-Za-z0-9._/-]{1,30}$/) },
  { requiredKeys: ['type', 'path'] },
);
const awsStore = fc.record(
  {
    type: fc.constant('aws-secrets-manager'),
    secretId: fc.constantFrom('prod/payments/', 'app_db+=.@-', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-'),
    region: fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1'),
    endpoint: fc.constantFrom('http://127.0.0.1:9', 'https://vpce-0a1b.secretsmanager.eu-west-1.vpce.amazonaws.com'),
    createIfMissing: fc.boolean(),
    quotas: fc.record(
      { versionWritesPerSecond: fc.integer({ min: 1, max: 10_000 }), readsPerSecond: fc.integer({ min: 1, max: 100_000 }), tagWritesPerSecond: fc.integer({ min: 1, max: 10_000 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['type', 'secretId'] },
);

const environment = (withAws) =>
  fc.record(
    {
      name: envName,
      store: withAws ? fc.oneof(localStore, awsStore) : localStore,
      deploy: fc.array(commandHook, { maxLength: 2 }),
      verify: fc.array(fc.oneof(commandHook, httpCheck), { maxLength: 2 }),
      observe: duration.map((d) => d.text),
      requireTicket: fc.boolean(),
    },
    { requiredKeys: ['name', 'store'] },
  );

const secret = (withAws) =>
  fc
    .record(
      {
        name,
        owner: printable,
        description: fc.string({ maxLength: 60 }).filter((s) => !/[\r\n\u2028\u2029\u0085]/.test(s)),
        durations: fc.tuple(duration, duration),
        generator,
        environments: fc.uniqueArray(environment(withAws), { minLength: 1, maxLength: 2, selector: (e) => e.name }),
        revoke: fc.array(commandHook, { maxLength: 2 }),
        sharedValue: fc.boolean(),
        notify,
      },
      { requiredKeys: ['name', 'durations', 'generator', 'environments'] },
    )
    .map(({ durations: [a, b], ...rest }) => {
      const [long, short] = a.ms >= b.ms ? [a, b] : [b, a];
      return { name: rest.name, ...rest, interval: long.text, fallbackWindow: short.text };
    });

/**
 * A valid policy set: 1–4 secrets with unique names, spread over 1–3 files, each store entry used
 * once (paths and secret ids get a unique suffix). Some generators are shared objects, which the
 * YAML writer turns into anchors and aliases.
 */
export const validPolicySet = fc
  .integer({ min: 0, max: 4 })
  .chain((n) =>
    fc.record({
      secrets: fc.uniqueArray(secret(n === 0), { minLength: 1, maxLength: 4, selector: (s) => s.name }),
      files: fc.integer({ min: 1, max: 3 }),
      shareGenerator: fc.boolean(),
      style: yamlStyle,
      extension: fc.constantFrom('.yaml', '.yml'),
    }),
  )
  .map(({ secrets, files, shareGenerator, style, extension }) => {
    let storeIndex = 0;
    const shared = secrets[0].generator;
    const items = secrets.map((s, i) => ({
      ...s,
      ...(shareGenerator && i > 0 && i % 2 === 0 ? { generator: shared } : {}),
      environments: s.environments.map((e) => ({ ...e, store: uniqueStore(e.store, storeIndex++) })),
    }));
    const count = Math.min(files, items.length);
    const out = {};
    for (let f = 0; f < count; f++) {
      const part = items.filter((_, i) => i % count === f);
      out[`policies/p${f}${extension}`] = emit({ secrets: part }, style);
    }
    return { files: out, secrets: items.map((s) => s.name), aws: items.some((s) => s.environments.some((e) => e.store.type !== 'local')), tree: { secrets: items } };
  });

/**
 * How the YAML is written: block or flow collections, indentation, quoting. Never folded: the
 * yaml package's writer (2.9.1) garbles folded double-quoted strings (it writes "undefined").
 */
export const yamlStyle = fc.record({
  collectionStyle: fc.constantFrom('any', 'block', 'flow'),
  indent: fc.integer({ min: 1, max: 6 }),
  defaultStringType: fc.constantFrom('PLAIN', 'PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'),
  crlf: fc.boolean(),
});

export function emit(tree, style = { collectionStyle: 'any', indent: 2, defaultStringType: 'PLAIN', crlf: false }) {
  const text = stringify(tree, { collectionStyle: style.collectionStyle, indent: style.indent, defaultStringType: style.defaultStringType, lineWidth: 0 });
  return style.crlf ? text.replace(/\n/g, '\r\n') : text;
}

function uniqueStore(store, index) {
  if (store.type === 'local') return { ...store, path: `${store.path}${index}.store` };
  const secretId = store.secretId.startsWith('arn:') ? `${store.secretId}${index}` : `${store.secretId}${index}`;
  return { ...store, secretId };
}
