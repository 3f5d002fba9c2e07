#!/usr/bin/env node
// A `command` store (protocol 1, docs/plugins.md#command) that keeps a secret in GitHub Actions
// secrets with the GitHub CLI: CURRENT as <NAME>, PENDING as <NAME>_PENDING, PREVIOUS as
// <NAME>_PREVIOUS, like the dotenv store. Values reach `gh` on stdin (`gh secret set NAME` without
// --body reads it there), never in argv or the environment. An example, not tested against GitHub.
//
// GitHub never gives a secret's value back. So that `promote` can move PENDING's value to <NAME>
// and `readValue` can answer, this program keeps the values of the live versions (at most three)
// in its state file, mode 0600, and drops each one at retire: see README.md for what that means.
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const request = JSON.parse(readFileSync(0, 'utf8'));
const { op, key, config = {} } = request;
const stateFile = config.stateFile ?? '.keyshift/github-secrets.json';

try {
  reply(handle());
} catch (error) {
  reply({ error: { code: error.code ?? 'UNAVAILABLE', message: error.message } });
  process.exitCode = 1;
}

function handle() {
  const state = load();
  const entry = state.entries[key] ?? null;
  switch (op) {
    case 'read':
      return { entry: entry && publicEntry(entry) };
    case 'readValue': {
      const version = entry?.versions.find((v) => v.id === request.versionId);
      if (!version) throw failure('NOT_FOUND', `${key}: no version ${request.versionId}`);
      return { value: version.value };
    }
    case 'apply': {
      const next = structuredClone(entry ?? { versions: [] });
      for (const change of request.ops) applyOp(next, change);
      next.state = request.state;
      publish(next);
      state.entries[key] = next;
      save(state);
      return { entry: publicEntry(next) };
    }
    case 'readMeta':
      return { meta: state.meta ?? null };
    case 'writeMeta':
      state.meta = request.meta;
      save(state);
      return {};
    default:
      throw failure('UNSUPPORTED', `op ${op} is not supported`);
  }
}

function applyOp(entry, change) {
  const find = (id) => entry.versions.find((v) => v.id === id);
  const holder = (stage) => entry.versions.find((v) => v.stages.includes(stage));
  if (change.type === 'create') {
    if (find(change.versionId)) return;
    if (change.stage === 'CURRENT' && holder('CURRENT')) throw failure('REFUSED', `${key} already has a CURRENT version`);
    entry.versions.push({ id: change.versionId, stages: [change.stage], createdAt: new Date().toISOString(), value: change.value });
  } else if (change.type === 'promote') {
    const version = find(change.versionId);
    if (!version) throw failure('NOT_FOUND', `${key}: cannot promote ${change.versionId}, it does not exist`);
    if (version.stages.includes('CURRENT')) return;
    entry.versions = entry.versions.filter((v) => !v.stages.includes('PREVIOUS') || v === version);
    const current = holder('CURRENT');
    if (current) current.stages = ['PREVIOUS'];
    version.stages = ['CURRENT'];
  } else if (change.type === 'retire') {
    if (find(change.versionId)?.stages.includes('CURRENT')) throw failure('REFUSED', `${key}: the CURRENT version cannot be retired`);
    entry.versions = entry.versions.filter((v) => v.id !== change.versionId);
  } else {
    throw failure('UNSUPPORTED', `${change.type} is not supported`);
  }
}

/** Make GitHub match the entry: set each stage's secret (value on stdin), delete stages now empty. */
function publish(entry) {
  // CURRENT first: a crash part-way leaves GitHub's <NAME> on a live value, and a rerun republishes.
  for (const [stage, suffix] of [['CURRENT', ''], ['PREVIOUS', '_PREVIOUS'], ['PENDING', '_PENDING']]) {
    const name = `${config.name ?? key}${suffix}`;
    const version = entry.versions.find((v) => v.stages.includes(stage));
    if (version) gh(['secret', 'set', name, ...scope()], version.value);
    else gh(['secret', 'delete', name, ...scope()], '', { missingOk: true });
  }
}

function gh(args, input, { missingOk = false } = {}) {
  const result = spawnSync('gh', args, { input, encoding: 'utf8' });
  if (result.error) throw failure('UNAVAILABLE', `gh: ${result.error.code}`);
  if (result.status !== 0 && !(missingOk && /not found|404/i.test(result.stderr))) {
    throw failure(/401|403|permission/i.test(result.stderr) ? 'ACCESS_DENIED' : 'UNAVAILABLE', `gh ${args.slice(0, 3).join(' ')} failed (exit ${result.status})`);
  }
}

function scope() {
  return [...(config.repo ? ['--repo', config.repo] : []), ...(config.environment ? ['--env', config.environment] : [])];
}

function publicEntry(entry) {
  return { versions: entry.versions.map(({ id, stages, createdAt }) => ({ id, stages, createdAt })), state: entry.state ?? null };
}

function load() {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return { entries: {}, meta: null };
    throw error;
  }
}

function save(state) {
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(state), { mode: 0o600 });
  renameSync(`${stateFile}.tmp`, stateFile);
}

function failure(code, message) {
  return Object.assign(new Error(message), { code });
}

function reply(document) {
  process.stdout.write(`${JSON.stringify(document)}\n`);
}
