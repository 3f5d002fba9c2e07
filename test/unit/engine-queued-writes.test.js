// rotate's queued lane (src/engine/queued-writes.ts, batching.ts queuesWrites), in-process on real
// local stores and a real evidence log: secrets of one environment go one after another, each
// queueing its store write; its evidence waits until the write is durable, and a batch the store
// cannot write fails the secrets it carried at the end of the run (`failed` records, no `issued` or
// `switched` for versions the store does not hold). The e2e twin fills a tmpfs (disk-errors.test.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { project, secretYaml, all, DAY } from '../helpers/engine-project.js';
import { rotateRun } from '../../dist/engine/runner.js';

const opts = (extra = {}) => ({ ...all, force: false, concurrency: 1, ...extra });
const COUNT = 400;
const names = Array.from({ length: COUNT }, (_, i) => `s-${String(i).padStart(3, '0')}`);
// Two stores, the secrets alternating between them: each store's last batch is waited for.
const storeOf = (i) => (i % 2 === 0 ? 'even' : 'odd');
const yamlOf = (name, i, extra = {}) => secretYaml(name, { envs: [['dev', `{ type: local, path: .keyshift/${storeOf(i)}.store }`]], ...extra });

/** Each secret's CURRENT, read through another handle on each store file (as another process would). */
async function currents(p) {
  const handles = { even: p.store('even'), odd: p.store('odd') };
  const found = new Map();
  for (const [i, name] of names.entries()) found.set(name, (await handles[storeOf(i)].read(name)).versions.find((v) => v.stages.includes('CURRENT')).id);
  return found;
}

/** An onProgress that takes both stores' lock files away once `after` secrets are done: the writer has lost its locks. */
const loseLocksAfter = (p, after) => (done) => done === after && ['even', 'odd'].forEach((s) => rmSync(`${p.storePath(s)}.lock`));

/** Every secret rotated holds its new version and logged `changes`; every failed one holds the old and logged only its failure. */
function checkAgainstStores(report, events, before, after, changes, failedAction) {
  let failed = 0;
  for (const name of names) {
    const mine = events.filter((r) => r.secret === name);
    const results = report.results.filter((r) => r.secret === name);
    const rotated = results.find((r) => r.outcome === 'rotated');
    if (rotated) {
      assert.equal(after.get(name), rotated.toVersion, `${name}: rotated, so the store holds ${rotated.toVersion}`);
      assert.deepEqual(mine.map((r) => r.event), changes, name);
      assert.equal(mine.at(-1).toVersion, rotated.toVersion, name);
    } else if (results.some((r) => r.outcome === 'failed')) {
      failed += 1;
      assert.deepEqual(results.map((r) => [r.action, r.outcome]), [[failedAction, 'failed']], `${name}: one failed result, for its first change`);
      assert.equal(results[0].error.code, 'ERR_LOCK_LOST', `${name}: ${results[0].error.message}`);
      assert.equal(after.get(name), before.get(name), `${name}: the store still holds the old CURRENT`);
      assert.deepEqual(mine.map((r) => [r.event, r.fromVersion]), [['failed', before.get(name)]], `${name}: only its failure is logged`);
    } else {
      assert.equal(after.get(name), before.get(name), `${name}: nothing to do, nothing changed`);
      assert.deepEqual(mine, [], name);
    }
  }
  return failed;
}

// After 300 secrets the earlier batches are written (room() waits while 256 records wait); after
// the last one, each store's last batch is still queued: the run must wait for it before it ends.
for (const lostAfter of [300, COUNT]) {
  test(`stores that stop taking writes after ${lostAfter} of ${COUNT} secrets fail the queued secrets they did not write; the others are rotated, and the evidence names only versions the stores hold`, async (t) => {
    const p = await project(t, names.map((name, i) => yamlOf(name, i)));
    assert.equal((await rotateRun(p.ctx, p.policies, opts())).exitCode, 0);
    assert.equal((await rotateRun(p.ctx, p.policies, opts({ force: true, reason: 'test' }))).exitCode, 0);
    const before = await currents(p);
    // Each forced secret now decommissions its old version and rotates, in one write. Once the
    // writer has lost its locks, the stores refuse every later batch.
    const report = await rotateRun(p.ctx, p.policies, opts({ force: true, reason: 'test', onProgress: loseLocksAfter(p, lostAfter) }));
    assert.equal(report.exitCode, 1);
    const events = p.evidence().filter((r) => r.runId === report.runId);
    const failed = checkAgainstStores(report, events, before, await currents(p), ['decommissioned', 'issued', 'switched'], 'decommission');
    assert.ok(failed > 0 && failed < COUNT / 2, `${failed} failed`);
    for (const i of [0, 1]) assert.equal(report.results.find((r) => r.secret === names[i]).outcome, 'decommissioned', `${names[i]}: the first batch of store ${storeOf(i)} was written`);
    for (const i of [COUNT - 2, COUNT - 1]) assert.equal(report.results.find((r) => r.secret === names[i]).outcome, 'failed', `${names[i]}: the last batch of store ${storeOf(i)} was not written`);
  });
}

test('a run whose last secret has nothing to do still waits for the last write of its store', async (t) => {
  // Every secret falls due after 90 days but the last two (a year): they end the run skipped.
  const p = await project(t, names.map((name, i) => yamlOf(name, i, i >= COUNT - 2 ? { interval: '365d' } : {})));
  assert.equal((await rotateRun(p.ctx, p.policies, opts())).exitCode, 0);
  p.advance(91 * DAY);
  const before = await currents(p);
  const report = await rotateRun(p.ctx, p.policies, opts({ onProgress: loseLocksAfter(p, COUNT) }));
  assert.equal(report.exitCode, 1);
  const events = p.evidence().filter((r) => r.runId === report.runId);
  const failed = checkAgainstStores(report, events, before, await currents(p), ['issued', 'switched'], 'rotate');
  assert.ok(failed > 0, `${failed} failed`);
  assert.deepEqual(report.results.slice(-2).map((r) => r.outcome), ['skipped', 'skipped']);
  for (const i of [COUNT - 4, COUNT - 3]) assert.equal(report.results.find((r) => r.secret === names[i]).outcome, 'failed', `${names[i]}: in the last batch of store ${storeOf(i)}`);
});
