// The two AWS stores as the fault suite sees them: how to start a fake, seed a victim, write its
// policy, tell whether a rotation was started at all, and check the end state of one victim.
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';
import { secretsManagerPolicy, kmsPolicy } from '../helpers/aws.js';

export const FAULT_STORES = {
  'aws-secrets-manager': {
    // Quotas off: only the injected faults throttle.
    start: () => startSecretsManager({ quotas: false }),
    seed(fake, tag, i) {
      const secretId = `fault/${tag}/s${i}`;
      fake.seed(secretId, { value: `old-value-${i}` });
      return { name: `victim-${i}`, secretId, old: fake.inspect(secretId).versions[0].id };
    },
    policy: (fake, victims) => secretsManagerPolicy(fake.endpoint, victims),
    started: (fake, victim) => fake.inspect(victim.secretId).versions.length > 1,
    endState(fake, victim, status) {
      const problems = [];
      const versions = fake.inspect(victim.secretId).versions;
      const shape = JSON.stringify(versions.map((v) => [v.id, v.stages, v.deprecated]));
      if (versions.length !== 2) problems.push(`${versions.length} versions (want old + one new): ${shape}`);
      const current = versions.filter((v) => v.stages.includes('AWSCURRENT'));
      if (current.length !== 1) problems.push(`${current.length} AWSCURRENT: ${shape}`);
      const fresh = current[0];
      if (fresh?.id === victim.old) problems.push(`AWSCURRENT still on the old version: ${shape}`);
      if (fresh && !/^[A-Za-z0-9]{24}$/.test(fresh.value ?? '')) problems.push('the new version has no generated value');
      if (versions.some((v) => v.stages.includes('AWSPENDING') && v !== fresh)) problems.push(`AWSPENDING stuck on a version that is not AWSCURRENT: ${shape}`);
      const old = versions.find((v) => v.id === victim.old);
      if (old?.stages.join() !== 'AWSPREVIOUS') problems.push(`the old version is not (only) AWSPREVIOUS: ${shape}`);
      problems.push(...statusProblems(status, { current: fresh?.id, previous: victim.old }));
      return { problems, current: fresh?.id, previous: victim.old };
    },
  },
  'aws-kms': {
    start: () => startKms({ quotas: false }),
    seed(fake, tag, i) {
      const alias = `alias/fault-${tag}-${i}`;
      const key = fake.seedKey({ alias });
      return { name: `victim-${i}`, alias, old: key.keyId };
    },
    // keyshift's own pacing (5 control-plane calls/s by default) only slows the suite down here.
    policy: (fake, victims) => kmsPolicy(fake.endpoint, victims, { extra: ', quotas: { controlPlanePerSecond: 200, readsPerSecond: 2000 }' }),
    started: (fake, victim) => createdKeys(fake, victim).length > 0,
    endState(fake, victim, status) {
      const problems = [];
      const created = createdKeys(fake, victim);
      const shape = JSON.stringify(created.map((k) => [k.keyId, k.state, k.tags['keyshift:version-id']]));
      if (created.length !== 1) problems.push(`${created.length} new keys tagged keyshift:alias (want exactly one): ${shape}`);
      const target = fake.inspect(victim.alias)?.keyId;
      const fresh = created.find((k) => k.keyId === target);
      if (!fresh) problems.push(`the alias points to ${target}, not to a new key: ${shape}`);
      if (fresh && fresh.state !== 'Enabled') problems.push(`the new key is ${fresh.state}`);
      const old = fake.inspect(victim.old);
      if (old.state !== 'Enabled') problems.push(`the old key is ${old.state} inside its fallback window`);
      const current = fresh?.tags['keyshift:version-id'];
      problems.push(...statusProblems(status, { current, previous: victim.old }));
      return { problems, current, previous: victim.old };
    },
  },
};

/** Keys keyshift created for this victim's alias (every new key carries the alias in a tag). */
function createdKeys(fake, victim) {
  return fake.keys().filter((k) => k.tags['keyshift:alias'] === victim.alias);
}

function statusProblems(status, { current, previous }) {
  if (!status) return ['not in status --json'];
  const problems = [];
  if (status.phase !== 'fallback') problems.push(`status phase ${status.phase} (want fallback)${status.error ? `: ${status.error}` : ''}`);
  if (status.currentVersion !== current) problems.push(`status currentVersion ${status.currentVersion}, store says ${current}`);
  if (status.previousVersion !== previous) problems.push(`status previousVersion ${status.previousVersion}, want the old ${previous}`);
  return problems;
}

/** Exactly one issued and one switched for this victim, of the rotation status shows, old → new. */
export function evidenceProblems(records, victim, status, end) {
  const mine = records.filter((r) => r.secret === victim.name);
  const issued = mine.filter((r) => r.event === 'issued');
  const switched = mine.filter((r) => r.event === 'switched');
  const problems = [];
  const events = mine.map((r) => r.event).join(',');
  if (issued.length !== 1 || switched.length !== 1) problems.push(`evidence has ${issued.length} issued and ${switched.length} switched (want 1 and 1): ${events}`);
  const rotationId = status?.rotationId;
  if (issued[0] && issued[0].rotationId !== rotationId) problems.push(`issued is for ${issued[0].rotationId}, status shows ${rotationId}`);
  if (switched[0] && switched[0].rotationId !== rotationId) problems.push(`switched is for ${switched[0].rotationId}, status shows ${rotationId}`);
  if (switched[0] && (switched[0].fromVersion !== end.previous || switched[0].toVersion !== end.current)) {
    problems.push(`switched ${switched[0].fromVersion} → ${switched[0].toVersion}, store says ${end.previous} → ${end.current}`);
  }
  return problems;
}
