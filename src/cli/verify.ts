import { relative, resolve } from 'node:path';
import { resolveSource } from '../evidence/merge.js';
import { lastRecordedAt } from '../evidence/latest-at.js';
import { targetKey } from '../evidence/index.js';
import { evidenceFile, verifyEvidence } from '../evidence/index.js';
import { findRollbacks, readStoresForVerify, type UnreadStore } from '../engine/store-rollback.js';
import { ExitCode } from '../errors.js';
import type { EngineContext } from '../engine/context.js';
import type { SecretPolicy } from '../policy/types.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';
import type { KeyObject } from 'node:crypto';
import { checkSignatures } from '../evidence/sign.js';

/**
 * `evidence verify`: the hash chain, then the anchors (last seq and hash) each store recorded, which
 * catch a log whose last records were cut off. Without loadable policies only the chain is checked.
 */
export async function verifyWithAnchors(g: GlobalOptions, io: Io, loaded: { ctx: EngineContext; policies: SecretPolicy[] | null }, publicKey: KeyObject | null = null): Promise<number> {
  const { anchors, reads, unread } = loaded.policies ? await readStoresForVerify(loaded.ctx, loaded.policies) : { anchors: [], reads: [], unread: [] };
  const file = evidenceFile(loaded.ctx.evidenceDir);
  const shown = relative(io.cwd, file) || file;
  const verified = await verifyEvidence(loaded.ctx.evidenceDir, anchors);
  // Stores that recorded a chain this log is not (or no log at all): it was deleted or replaced.
  const result =
    verified.ok && anchors.length > 0 && verified.anchorsChecked === 0 && unread.length === 0
      ? {
          ok: false as const,
          line: verified.records === 0 ? 1 : verified.records,
          seq: verified.head?.seq ?? null,
          problem: `${anchors.length} store anchor(s) name an evidence chain this log is not (${[...new Set(anchors.map((a) => a.source))].join(', ')}): the log was deleted or replaced, or those stores write evidence to another --evidence-dir`,
          records: verified.records,
        }
      : verified;
  if (!result.ok) {
    if (g.json) printJson(io.out, { ok: false, file: shown, line: result.line, seq: result.seq, problem: result.problem, records: result.records });
    else io.out.stdout(`${shown}:${result.line}: ${result.problem}\n`);
    io.out.stderr(`keyshift: evidence chain broken at ${shown}:${result.line}\n`);
    return ExitCode.failed;
  }
  // An intact chain, re-chained by someone who can edit files and stores, still fails its signatures.
  const signatures = publicKey ? await checkSignatures(loaded.ctx.evidenceDir, publicKey) : null;
  if (signatures && !signatures.ok) {
    if (g.json) printJson(io.out, { ok: false, file: shown, line: signatures.line, seq: signatures.seq, code: signatures.code, problem: signatures.problem, records: result.records, signatures: { keyId: signatures.keyId, checked: signatures.signatures } });
    else io.out.stdout(`${shown}:${signatures.line}: ${signatures.code}: ${signatures.problem}\n`);
    io.out.stderr(`keyshift: ${signatures.code === 'ERR_SIGNATURE_MISSING' ? 'unsigned records' : 'a bad signature'} in ${shown} (${signatures.code})\n`);
    return ExitCode.failed;
  }
  const signed = signatures?.ok ? { keyId: signatures.keyId, checked: signatures.signatures, signedUpTo: signatures.signedUpTo } : undefined;
  // The stores against the log: an intact log says what each store must hold now.
  const stores = (await findRollbacks(loaded.ctx.evidenceDir, reads)).map((p) => ({
    check: p.check, secret: p.target.policy.name, environment: p.target.environment.name, store: p.target.store.location, message: p.message, hint: p.hint,
  }));
  if (stores.length > 0 || unread.length > 0) {
    const problem = [...stores.map((p) => `${p.check}: ${p.message}`), ...unread.map((u) => `${u.error.code}: ${u.error.message}`)].join('; ');
    if (g.json) printJson(io.out, { ok: false, file: shown, line: null, seq: null, problem, records: result.records, stores, unreadStores: unread });
    else {
      for (const p of stores) io.out.stdout(`${p.check} ${p.secret}/${p.environment}: ${p.message}\n  hint: ${p.hint}\n`);
      printUnread(io, unread);
    }
    const parts = [stores.length > 0 ? `${stores.length} store(s) hold an older state than it records` : '', unread.length > 0 ? `${unread.length} store(s) could not be read (their anchors were not checked)` : ''];
    io.out.stderr(`keyshift: the chain of ${shown} is intact, but ${parts.filter(Boolean).join(' and ')}\n`);
    return ExitCode.failed;
  }
  if (g.json) {
    printJson(io.out, { ok: true, file: shown, records: result.records, head: result.head, anchorsChecked: result.anchorsChecked, policiesLoaded: loaded.policies !== null, ...(signed ? { signatures: signed } : {}) });
  } else if (result.records === 0) {
    io.out.stdout(`${shown}: no evidence yet\n`);
  } else {
    io.out.stdout(`${shown}: ${result.records} records, chain intact (head seq ${result.head?.seq} ${result.head?.hash})\n`);
    io.out.stdout(
      loaded.policies
        ? `anchors checked: ${result.anchorsChecked} store(s) agree the log is complete\n`
        : 'anchors not checked: the policies could not be loaded, so truncation of the last records cannot be ruled out\n',
    );
    if (signed) io.out.stdout(`signatures: ${signed.checked} valid with key ${signed.keyId}; every record is signed\n`);
  }
  return ExitCode.ok;
}

/**
 * `evidence verify <dir|file>…` with several logs (one per runner): each chain on its own, each
 * against the anchors its stores keep for it (anchors name their chain by the hash of its seq 1),
 * then the stores against every log. Exit 1 if any log is broken.
 */
export async function verifyMany(g: GlobalOptions, paths: string[], io: Io, loaded: { ctx: EngineContext; policies: SecretPolicy[] | null }, publicKey: KeyObject | null = null): Promise<number> {
  const sources = [];
  for (const given of paths) sources.push(await resolveSource(given, resolve(io.cwd, given)));
  const { anchors, reads, unread } = loaded.policies ? await readStoresForVerify(loaded.ctx, loaded.policies) : { anchors: [], reads: [], unread: [] };
  const logs = [];
  for (const source of sources) {
    const verified = await verifyEvidence(source.dir, anchors);
    const file = relative(io.cwd, evidenceFile(source.dir)) || evidenceFile(source.dir);
    const signatures = verified.ok && publicKey ? await checkSignatures(source.dir, publicKey) : null;
    if (signatures && !signatures.ok) logs.push({ file, ok: false, line: signatures.line, seq: signatures.seq, code: signatures.code, problem: signatures.problem, records: verified.records });
    else logs.push(verified.ok ? { file, ok: true, records: verified.records, head: verified.head, anchorsChecked: verified.anchorsChecked, ...(signatures?.ok ? { signatures: signatures.signatures } : {}) } : { file, ok: false, line: verified.line, seq: verified.seq, problem: verified.problem, records: verified.records });
  }
  const chains = new Set(logs.flatMap((l) => ('head' in l && l.head ? [l.head.chainId] : [])));
  const anchorsChecked = logs.reduce((n, l) => n + ('anchorsChecked' in l ? (l.anchorsChecked as number) : 0), 0);
  // As for one log: stores that anchor chains, none of them given here, mean the logs were replaced.
  if (logs.every((l) => l.ok) && anchors.length > 0 && anchorsChecked === 0 && unread.length === 0) {
    logs.push({ file: '(stores)', ok: false, line: 0, seq: null, problem: `${anchors.length} store anchor(s) name evidence chains none of these logs is: they were deleted or replaced, or are not the runners' evidence dirs`, records: 0 });
  }
  const otherChains = [...new Set(anchors.filter((a) => !chains.has(a.chainId)).map((a) => a.chainId))];
  const stores = [];
  if (logs.every((l) => l.ok)) {
    const lastAt = await Promise.all(sources.map((source) => lastRecordedAt(source.dir)));
    const judgeOf = (read: (typeof reads)[number]): number => {
      const key = targetKey(read.target.policy.name, read.target.environment.name);
      let best = -1;
      lastAt.forEach((map, i) => {
        const at = map.get(key);
        if (at !== undefined && (best < 0 || at > (lastAt[best]?.get(key) ?? ''))) best = i;
      });
      return best;
    };
    const judges = reads.map(judgeOf);
    for (const [i, source] of sources.entries()) {
      for (const p of await findRollbacks(source.dir, reads.filter((_r, j) => judges[j] === i))) {
        stores.push({ check: p.check, secret: p.target.policy.name, environment: p.target.environment.name, store: p.target.store.location, message: p.message, hint: p.hint });
      }
    }
  }
  const ok = logs.every((l) => l.ok) && stores.length === 0 && unread.length === 0;
  if (g.json) {
    printJson(io.out, { ok, logs, anchorsChecked, otherChains: otherChains.length, stores, unreadStores: unread, policiesLoaded: loaded.policies !== null });
  } else {
    for (const l of logs) {
      if ('problem' in l) io.out.stdout(`${l.file}:${l.line}: ${'code' in l ? `${l.code}: ` : ''}${l.problem}\n`);
      else io.out.stdout(`${l.file}: ${l.records} records, chain intact${l.head ? ` (head seq ${l.head.seq} ${l.head.hash})` : ''}, ${l.anchorsChecked} anchor(s) checked\n`);
    }
    for (const p of stores) io.out.stdout(`${p.check} ${p.secret}/${p.environment}: ${p.message}\n  hint: ${p.hint}\n`);
    printUnread(io, unread);
    io.out.stdout(
      loaded.policies
        ? `anchors checked: ${anchorsChecked}; ${otherChains.length} other chain(s) anchored in the stores (earlier runs or runners not given here)\n`
        : 'anchors not checked: the policies could not be loaded, so truncation of the last records cannot be ruled out\n',
    );
  }
  if (!ok) {
    const older = stores.length > 0 ? `, ${stores.length} store(s) hold an older state than the logs record` : '';
    const notRead = unread.length > 0 ? `, ${unread.length} store(s) could not be read (their anchors were not checked)` : '';
    io.out.stderr(`keyshift: ${logs.filter((l) => !l.ok).length} of ${paths.length} evidence log(s) broken${older}${notRead}\n`);
  }
  return ok ? ExitCode.ok : ExitCode.failed;
}

/** One line per store (or entry) that could not be read, with its code and fix. */
function printUnread(io: Io, unread: UnreadStore[]): void {
  for (const u of unread) {
    const what = u.secret ? `${u.secret}/${u.environment} (${u.store})` : `store ${u.store}`;
    io.out.stdout(`${u.error.code} ${what}: not read, its anchors not checked: ${u.error.message}\n${u.error.hint ? `  hint: ${u.error.hint}\n` : ''}`);
  }
}
