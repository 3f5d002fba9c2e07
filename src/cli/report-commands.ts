import { promises as fs } from 'node:fs';
import { relative, resolve } from 'node:path';
import { ExitCode, KeyshiftError, usageError } from '../errors.js';
import { parseDurationAllowZero } from '../policy/durations.js';
import { statusRun } from '../engine/inspect.js';
import { selectPolicies } from '../engine/selection.js';
import { evidenceFile } from '../evidence/log-file.js';
import { exportRotation, verifyExport } from '../evidence/export.js';
import { readStoreAnchors } from '../report/anchors.js';
import { buildReport } from '../report/model.js';
import { countFailures, readHistory, targetKey } from '../report/history.js';
import { findProblems } from '../report/check.js';
import { prometheusText, writeAtomically } from '../report/prometheus.js';
import { withPolicies } from './commands.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson, printTable } from './output.js';

/** Handlers of the read-only compliance commands. No locks, no writes but --out / --prometheus. */

export async function reportCommand(g: GlobalOptions, o: { names: string[]; since?: string; format?: string; out?: string; env?: string[] }, io: Io): Promise<number> {
  const sinceMs = o.since === undefined ? null : parseDurationAllowZero(o.since);
  if (sinceMs === null && o.since !== undefined) throw usageError(`--since "${o.since}" is not a duration`, 'e.g. 90d or 52w');
  const format = o.format ?? (g.json ? 'json' : 'md');
  return withPolicies(g, io, async (ctx, policies) => {
    const selection = { names: o.names, all: o.names.length === 0, envs: o.env ?? [] };
    const status = await statusRun(ctx, policies, selection);
    const now = ctx.now();
    const anchors = (await readStoreAnchors(ctx, policies)).flatMap((s) => s.anchors.map((a) => ({ source: `store ${s.store}`, ...a })));
    const { history, verified } = await readHistory(ctx.evidenceDir, anchors);
    const shown = relative(io.cwd, evidenceFile(ctx.evidenceDir)) || evidenceFile(ctx.evidenceDir);
    history.file = shown;
    const report = buildReport({
      policies: selectPolicies(policies, selection),
      status,
      history,
      chainProblem: !verified.ok
        ? `${shown}:${verified.line}: ${verified.problem}`
        : anchors.length > 0 && verified.anchorsChecked === 0
          ? `${shown}: ${anchors.length} store anchor(s) name an evidence chain this log is not: it was deleted or replaced (or those stores write to another --evidence-dir)`
          : null,
      now,
      since: sinceMs === null ? null : new Date(now.getTime() - sinceMs),
    });
    for (const problem of report.evidenceProblems) io.out.stderr(`keyshift: evidence ${problem}; the report marks its coverage incomplete\n`);
    const text = await render(format, report);
    if (o.out) {
      await writeOut(io, '--out', o.out, text);
      if (!g.quiet) io.out.stderr(`report written to ${o.out} (score ${report.score}%)\n`);
    } else if (typeof text === 'string') io.out.stdout(text);
    else for (const chunk of text) io.out.stdout(chunk);
    return ExitCode.ok;
  });
}

export async function checkCommand(g: GlobalOptions, o: { prometheus?: string }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    const rows = await statusRun(ctx, policies, { names: [], all: true, envs: [] });
    const now = ctx.now();
    const problems = findProblems(rows, now);
    if (o.prometheus) {
      const failures = await countFailures(ctx.evidenceDir);
      const text = prometheusText(rows, failures, now, targetKey);
      await writeAtomically(resolve(io.cwd, o.prometheus), text).catch((error: NodeJS.ErrnoException) => {
        throw cannotWrite('--prometheus', o.prometheus as string, error);
      });
    }
    if (g.json) printJson(io.out, { ok: problems.length === 0, checked: rows.length, problems });
    else if (problems.length === 0) {
      if (!g.quiet) io.out.stdout(`ok: ${rows.length} secret/environment pair(s), nothing overdue, stuck or failed\n`);
    } else for (const p of problems) io.out.stdout(`${p.secret}/${p.environment}: ${p.kind}: ${p.message}\n`);
    return problems.length === 0 ? ExitCode.ok : ExitCode.failed;
  });
}

export async function exportCommand(g: GlobalOptions, o: { rotation: string; out?: string }, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    const anchors = (await readStoreAnchors(ctx, policies)).flatMap((s) => s.anchors.map((a) => ({ store: s.store, ...a })));
    const document = await exportRotation(ctx.evidenceDir, o.rotation, anchors, ctx.now());
    const text = `${JSON.stringify(document, null, 2)}\n`;
    if (o.out) {
      await writeOut(io, '--out', o.out, text);
      if (!g.quiet) io.out.stderr(`rotation ${o.rotation}: ${document.records.length} record(s) and a proof up to seq ${document.proof.to} (anchor of ${document.proof.anchor.store}) written to ${o.out}\n`);
    } else io.out.stdout(text);
    return ExitCode.ok;
  });
}

export async function anchorsCommand(g: GlobalOptions, _o: unknown, io: Io): Promise<number> {
  return withPolicies(g, io, async (ctx, policies) => {
    const stores = await readStoreAnchors(ctx, policies);
    if (g.json) printJson(io.out, { stores });
    else {
      printTable(io.out, ['STORE', 'CHAIN', 'SEQ', 'HASH', 'AT'], stores.flatMap((s) =>
        s.anchors.length === 0 ? [[s.store, '(none)', null, null, null]] : s.anchors.map((a) => [s.store, a.chainId, String(a.seq), a.hash, a.at])));
    }
    return ExitCode.ok;
  });
}

/** `evidence verify --export <file>`: the document alone, no store or log needed. */
export async function verifyExportCommand(g: GlobalOptions, file: string, io: Io): Promise<number> {
  const text = await fs.readFile(resolve(io.cwd, file), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`cannot read ${file}: ${error.code ?? error.message}`, 'pass the file written by keyshift evidence export');
  });
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw usageError(`${file} is not JSON`, 'pass the file written by keyshift evidence export');
  }
  const result = verifyExport(document);
  if (g.json) printJson(io.out, { file, ...result });
  else if (result.ok) {
    io.out.stdout(`${file}: rotation ${result.rotationId} of ${result.secret}: ${result.records} record(s) intact, linked seq ${result.from}..${result.to} to the anchor of ${result.anchor.store} (chain ${result.anchor.chainId}, seq ${result.anchor.seq}, ${result.anchor.hash}, ${result.anchor.at})\n`);
    io.out.stdout('compare that anchor with `keyshift evidence anchors` (or the store) to rule out a rewritten log\n');
  } else io.out.stdout(`${file}: ${result.problem}\n`);
  return result.ok ? ExitCode.ok : ExitCode.failed;
}

async function writeOut(io: Io, option: string, file: string, text: string | Iterable<string>): Promise<void> {
  await fs.writeFile(resolve(io.cwd, file), text).catch((error: NodeJS.ErrnoException) => {
    throw cannotWrite(option, file, error);
  });
}

function cannotWrite(option: string, file: string, error: NodeJS.ErrnoException): KeyshiftError {
  return new KeyshiftError('ERR_OUTPUT_WRITE', `${option} ${file}: cannot write (${error.code ?? error.message})`, {
    exitCode: ExitCode.failed,
    hint: 'check that the directory exists and is writable',
  });
}

/** The report's text; the HTML (megabytes for a large log) in pieces, written out as they come. */
async function render(format: string, report: ReturnType<typeof buildReport>): Promise<string | Iterable<string>> {
  if (format === 'json') {
    const secrets = report.secrets.map(({ timeline: _timeline, interval: _interval, ...row }) => row);
    const document = { generatedAt: report.generatedAt, since: report.since, secrets, evidenceVerified: report.evidenceVerified, evidenceProblems: report.evidenceProblems, score: report.score };
    return `${JSON.stringify(document, null, 2)}\n`;
  }
  if (format === 'html') return (await import('../report/html.js')).renderHtmlChunks(report);
  return (await import('../report/markdown.js')).renderMarkdown(report);
}
