// The gates a run passes before it writes: validate: rules on a new value (value-gate.ts), change
// tickets for protected environments (ticket-gate.ts), and the concurrency helpers (concurrency.ts).
// Stores are real local stores in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { SecretValue } from '../../dist/secret-value.js';
import { acceptNewValue, heldValues, describeFailures } from '../../dist/engine/value-gate.js';
import { requireTickets } from '../../dist/engine/ticket-gate.js';
import { mapWithConcurrency, limiter } from '../../dist/engine/concurrency.js';

const DAY = 24 * 3600_000;
const rules = (extra = {}) => ({ minLength: null, minEntropyBits: null, pattern: null, forbidPrevious: false, forbidRepeats: null, ...extra });

async function setup(t, { validate = null, generator = { type: 'random' }, name = 'k', env = 'dev', requireTicket = false, store } = {}) {
  let dir;
  if (!store) {
    dir = mkdtempSync(join(tmpdir(), 'keyshift-gates-'));
    store = openLocalStore({ path: join(dir, 'test.store') }, {});
    t.after(async () => (await store.close(), rmSync(dir, { recursive: true, force: true })));
  }
  const policy = { name, intervalMs: 30 * DAY, fallbackWindowMs: 2 * 3600_000, environments: [], validate, generator };
  return { policy, environment: { name: env, requireTicket, deploy: [], verify: [] }, store, storeId: 'local:test', key: name };
}

/** Writes `versions` ([id, value, stage] to create, [id, null, op] for another op) as the entry of `target`, last rotated `ageMs` ago. */
async function hold(target, versions, ageMs = 0) {
  const lock = await target.store.lock({ waitMs: 1000, owner: 'test' });
  const ops = versions.map(([versionId, value, stage]) => (value === null ? { type: stage, versionId } : { type: 'create', versionId, value: SecretValue.fromString(value), stage }));
  await target.store.apply(target.key, ops, { rotation: null, lastRotatedAt: new Date(Date.now() - ageMs).toISOString(), pendingEvents: [] });
  await lock.release();
}

const rejected = (check) => (error) => (assert.equal(error.code, 'ERR_VALUE_REJECTED'), assert.equal(error.exitCode, 1), check(error), true);

test('acceptNewValue: without validate: rules or with every rule met, the value passes as it is', async (t) => {
  const target = await setup(t);
  const value = SecretValue.fromString('x');
  assert.equal(await acceptNewValue(target, value), value);
  const strict = await setup(t, { validate: rules({ minLength: 8, pattern: '[a-z0-9]+', forbidRepeats: 3, minEntropyBits: 10 }) });
  const good = SecretValue.fromString('abcdefgh12');
  assert.equal(await acceptNewValue(strict, good), good);
});

test('acceptNewValue: a value that fails rules is refused naming each rule, never the value', async (t) => {
  const target = await setup(t, { validate: rules({ minLength: 32, pattern: '[0-9]+' }) });
  await assert.rejects(acceptNewValue(target, SecretValue.fromString('short-secret')), rejected((error) => {
    assert.equal(error.message, 'k/dev: the new value fails validate.minLength (at least 32 characters) and validate.pattern (the whole value matches "[0-9]+"); nothing was stored');
    assert.equal(error.hint, 'rerun keyshift rotate to draw a new value, or loosen the rule in validate: (docs/policies.md#value-checks)');
  }));
  assert.equal(await target.store.read('k'), null, 'nothing was stored');
  const one = await setup(t, { validate: rules({ minLength: 32 }), name: 'db', env: 'prod' });
  await assert.rejects(acceptNewValue(one, SecretValue.fromString('short')), rejected((error) => {
    assert.equal(error.message, 'db/prod: the new value fails validate.minLength (at least 32 characters); nothing was stored');
  }));
});

test('acceptNewValue: a generator command gets the hint to fix what it prints', async (t) => {
  const target = await setup(t, { validate: rules({ minLength: 32 }), generator: { type: 'command', command: ['gen'] } });
  await assert.rejects(acceptNewValue(target, SecretValue.fromString('short')), rejected((error) => {
    assert.equal(error.hint, 'fix what the generator command prints (run it by hand) or change the rule in validate:, then rerun keyshift rotate');
  }));
  const none = await setup(t, { validate: rules({ minLength: 32 }) });
  delete none.policy.generator; // no generator: the default random one
  await assert.rejects(acceptNewValue(none, SecretValue.fromString('short')), rejected((error) => assert.match(error.hint, /^rerun keyshift rotate to draw/)));
});

test('acceptNewValue: forbidPrevious refuses any value the store still holds, whatever its stage', async (t) => {
  const target = await setup(t, { validate: rules({ forbidPrevious: true }) });
  const fresh = SecretValue.fromString('fresh');
  assert.equal(await acceptNewValue(target, fresh), fresh, 'an absent entry holds nothing');
  await hold(target, [['v1', 'old', 'CURRENT'], ['v2', 'now', 'PENDING'], ['v2', null, 'promote'], ['v3', 'next', 'PENDING']]);
  const stages = (await target.store.read('k')).versions.map((v) => [v.id, v.stages]).sort();
  assert.deepEqual(stages, [['v1', ['PREVIOUS']], ['v2', ['CURRENT']], ['v3', ['PENDING']]]);
  for (const held of ['old', 'now', 'next']) {
    await assert.rejects(acceptNewValue(target, SecretValue.fromString(held)), rejected((error) => {
      assert.equal(error.message, 'k/dev: the new value fails validate.forbidPrevious (differs from every value the store still holds); nothing was stored');
      assert.doesNotMatch(error.message, new RegExp(`"${held}"`));
    }), held);
  }
  assert.equal(await acceptNewValue(target, fresh), fresh);
  const lax = await setup(t, { validate: rules({ forbidPrevious: false }), store: target.store });
  const same = SecretValue.fromString('now');
  assert.equal(await acceptNewValue(lax, same), same, 'without forbidPrevious a held value passes');
});

test('heldValues: every version the store holds with its value, none for an absent entry', async (t) => {
  const target = await setup(t);
  assert.deepEqual(await heldValues(target, null), []);
  await hold(target, [['v1', 'one', 'CURRENT'], ['v2', 'two', 'PENDING']]);
  const held = await heldValues(target, await target.store.read('k'));
  assert.deepEqual(held.map((h) => [h.versionId, h.value.reveal()]).sort(), [['v1', 'one'], ['v2', 'two']]);
});

test('describeFailures: each rule with its requirement, joined by "and"', () => {
  assert.equal(describeFailures([]), '');
  assert.equal(describeFailures([{ rule: 'minLength', requirement: 'at least 3 characters' }]), 'validate.minLength (at least 3 characters)');
  assert.equal(
    describeFailures([{ rule: 'a', requirement: 'x' }, { rule: 'b', requirement: 'y' }, { rule: 'c', requirement: 'z' }]),
    'validate.a (x) and validate.b (y) and validate.c (z)',
  );
});

const planOptions = (extra = {}) => ({ now: new Date(), force: false, horizonMs: 0, ...extra });

test('requireTickets: protected environments with work to do refuse the run, naming each', async (t) => {
  const a = await setup(t, { name: 'a', env: 'prod', requireTicket: true });
  const b = await setup(t, { name: 'b', env: 'prod', requireTicket: true });
  const open = await setup(t, { name: 'c', env: 'dev' });
  await assert.rejects(requireTickets([a, open, b], planOptions()), (error) => {
    assert.equal(error.code, 'ERR_TICKET_REQUIRED');
    assert.equal(error.exitCode, 3);
    assert.equal(error.message, 'a/prod, b/prod require a change ticket; nothing was changed');
    assert.equal(error.hint, 'rerun with --ticket <id> (it is recorded in the evidence), or leave those environments out with --env');
    return true;
  });
  await assert.rejects(requireTickets([b], planOptions()), { message: 'b/prod require a change ticket; nothing was changed' });
});

test('requireTickets: nothing due, work only later, or no protected environment passes', async (t) => {
  const due = await setup(t, { name: 'a', env: 'prod', requireTicket: true });
  await hold(due, [['v1', 'one', 'CURRENT']], 31 * DAY);
  const fresh = await setup(t, { name: 'b', env: 'prod', requireTicket: true });
  await hold(fresh, [['v1', 'one', 'CURRENT']], DAY);
  const open = await setup(t, { name: 'c', env: 'dev' });
  await requireTickets([], planOptions());
  await requireTickets([fresh, open], planOptions());
  await requireTickets([fresh], planOptions({ horizonMs: 40 * DAY }));
  await assert.rejects(requireTickets([fresh], planOptions({ force: true })), { code: 'ERR_TICKET_REQUIRED', message: /^b\/prod require/ });
  await assert.rejects(requireTickets([due, fresh], planOptions()), { message: 'a/prod require a change ticket; nothing was changed' });
  await requireTickets([due], planOptions({ now: new Date(Date.now() - 2 * DAY) }));
});

test('mapWithConcurrency: results in input order, at most `limit` in flight', async () => {
  let active = 0;
  let most = 0;
  const seen = [];
  const work = async (item, index) => {
    active += 1;
    most = Math.max(most, active);
    seen.push(index);
    await new Promise((resolve) => setTimeout(resolve, (5 - item) * 2));
    active -= 1;
    return item * 10;
  };
  assert.deepEqual(await mapWithConcurrency([5, 1, 4, 2, 3, 0], 2, work), [50, 10, 40, 20, 30, 0]);
  assert.equal(most, 2);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5], 'each item once, started in order');
  most = 0;
  assert.deepEqual(await mapWithConcurrency([1, 2], 8, work), [10, 20]);
  assert.equal(most, 2);
  most = 0;
  assert.deepEqual(await mapWithConcurrency([1, 2, 3], 1, work), [10, 20, 30]);
  assert.equal(most, 1);
  assert.deepEqual(await mapWithConcurrency([], 4, work), []);
});

test('limiter: at most `limit` at once, the others in call order, a failure frees its slot', async () => {
  const limit = limiter(2);
  let active = 0;
  let most = 0;
  const started = [];
  const job = (name, ms, fail = false) => limit(async () => {
    active += 1;
    most = Math.max(most, active);
    started.push(name);
    await new Promise((resolve) => setTimeout(resolve, ms));
    active -= 1;
    if (fail) throw new Error(`${name} failed`);
    return name;
  });
  const results = await Promise.allSettled([job('a', 20, true), job('b', 5), job('c', 5), job('d', 5), job('e', 5)]);
  assert.deepEqual(results.map((r) => r.status === 'fulfilled' ? r.value : r.reason.message), ['a failed', 'b', 'c', 'd', 'e']);
  assert.equal(most, 2);
  assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
  // After all have settled the slots are free again: two start at once, without waiting.
  active = 0;
  most = 0;
  const order = [];
  const gate = Promise.withResolvers ? Promise.withResolvers() : (() => { let resolve; const promise = new Promise((r) => (resolve = r)); return { promise, resolve }; })();
  const first = limit(async () => (order.push('x'), await gate.promise));
  const second = limit(async () => (order.push('y'), await gate.promise));
  const third = limit(async () => order.push('z'));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(order, ['x', 'y'], 'the third waits while two run');
  gate.resolve();
  await Promise.all([first, second, third]);
  assert.deepEqual(order, ['x', 'y', 'z']);
});
