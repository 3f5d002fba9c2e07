// The Secrets Manager lease (docs/workflow.md#leases) under the one interleaving the loopback fake
// cannot force: a losing taker's tag that lands after the winner has re-checked its own. The
// LeaseApi here keeps one secret's labels and tag in memory with Secrets Manager's compare-and-set
// on a label move, and can hold a runner's call until the test lets it through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { takeSecretLease, LEASE_LABEL, LOSER_PREFIX } from '../../dist/stores/aws-secrets-manager/lease.js';
import { decodeLease, encodeLease } from '../../dist/stores/aws/lease.js';

const TTL = 900;

function oneSecret() {
  const state = { labels: { v1: ['AWSCURRENT', LEASE_LABEL] }, tag: undefined };
  const held = new Map();
  const gate = async (runner, op) => {
    const h = held.get(`${runner}:${op}`);
    if (h) {
      h.arrive();
      await h.opened;
    }
  };
  return {
    state,
    leaseVersion: () => Object.entries(state.labels).find(([, stages]) => stages.includes(LEASE_LABEL))?.[0] ?? null,
    /** Holds `runner`'s next `op` call: `arrived` resolves when it is waiting, `open()` lets it go. */
    hold(runner, op) {
      let open;
      let arrive;
      const opened = new Promise((resolve) => (open = resolve));
      const arrived = new Promise((resolve) => (arrive = resolve));
      held.set(`${runner}:${op}`, { opened, arrive });
      return { arrived, open: () => (held.delete(`${runner}:${op}`), open()) };
    },
    api(runner) {
      return {
        describe: async () => {
          await gate(runner, 'describe');
          return { labels: structuredClone(state.labels), tag: state.tag, refused: false };
        },
        tag: async (key, value) => {
          await gate(runner, 'tag');
          state.tag = value;
        },
        move: async (key, to, from) => {
          await gate(runner, 'move');
          const on = Object.entries(state.labels).find(([, stages]) => stages.includes(LEASE_LABEL))?.[0];
          if (from !== undefined && on !== from) return false; // RemoveFromVersionId: only from where it is
          if (on) state.labels[on] = state.labels[on].filter((label) => label !== LEASE_LABEL);
          if (to) state.labels[to] = [...(state.labels[to] ?? []), LEASE_LABEL];
          return true;
        },
        log() {},
      };
    },
  };
}

const take = (secret, runner) => takeSecretLease(secret.api(runner), 'app/db', { holder: `keyshift rotate by ${runner}`, ttlMs: TTL });

/** A and B both see the lease free; A tags, detaches and re-checks its tag; only then does B's tag land. */
async function loserTagsLast(secret) {
  const aTag = secret.hold('A', 'tag');
  const bTag = secret.hold('B', 'tag');
  const a = take(secret, 'A');
  const b = take(secret, 'B');
  await Promise.all([aTag.arrived, bTag.arrived]);
  aTag.open();
  const lease = await a;
  bTag.open();
  await assert.rejects(b, (error) => error.code === 'ERR_LEASED', 'the loser is blocked');
  return lease;
}

test('a loser whose tag lands after the winner re-checked it: the winner still renews and releases, and others stay blocked meanwhile', async () => {
  const secret = oneSecret();
  const lease = await loserTagsLast(secret);
  assert.equal(secret.leaseVersion(), null, 'the lease is held (its label on no version)');
  assert.equal(decodeLease(secret.state.tag).holder, `${LOSER_PREFIX}keyshift rotate by B`, "the loser marked the tag it wrote over the winner's");
  await assert.rejects(take(secret, 'C'), (error) => error.code === 'ERR_LEASED' && /tag overwritten by: keyshift rotate by B/.test(error.message), 'a third runner is blocked while the winner works');
  await sleep(TTL / 3 + 150);
  assert.equal(decodeLease(secret.state.tag).holder, 'keyshift rotate by A', "the winner's renewal took its tag back");
  await lease.release();
  assert.equal(secret.leaseVersion(), 'v1', 'the release freed the lease (label back on AWSCURRENT)');
  const next = await take(secret, 'C');
  await next.release();
});

test("a loser's marked tag from a later take is not the stalled holder's: its release leaves the lease alone", async () => {
  const secret = oneSecret();
  const lease = await take(secret, 'A');
  // A stalled past its ttl; C took the lease over, and C's loser marked its tag, expiring one ttl after C's take.
  secret.state.tag = encodeLease({ expires: Date.now() + 3 * TTL, token: randomUUID(), holder: `${LOSER_PREFIX}keyshift rotate by D` });
  await lease.release();
  assert.equal(secret.leaseVersion(), null, 'the lease stays held: it is no longer A\'s to release');
});
