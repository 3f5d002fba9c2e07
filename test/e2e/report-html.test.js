// The HTML report as a browser shows it: Debian's chromium renders it headless, and the test counts
// the marks in the screenshot. Skipped, saying so, where no browser can start (.ci/run installs one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, json, readEvidence, runCli, tempProject } from '../helpers/cli.js';
import { writeHistory } from '../helpers/history.js';
import { countBlobs, readPng } from '../helpers/png.js';

const COLOURS = { switched: '#1f6feb', decommissioned: '#1a7f37', overdue: '#fa4549' };

function browser() {
  for (const candidate of [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean)) {
    if (!existsSync(candidate)) continue;
    const probe = spawnSync(candidate, ['--headless', '--no-sandbox', '--version'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.status === 0) return candidate;
  }
  return null;
}

function screenshot(chromium, page, png) {
  const profile = mkdtempSync(join(tmpdir(), 'keyshift-chromium-'));
  const result = spawnSync(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--hide-scrollbars',
    '--force-device-scale-factor=1', '--window-size=1100,1400', `--screenshot=${png}`, `file://${page}`,
  ], { encoding: 'utf8', timeout: 120_000 });
  return result.status === 0 && existsSync(png) ? null : `chromium exited ${result.status}: ${result.stderr.slice(-400)}`;
}

test('report --format html: the browser draws one mark per switch and decommission, and a band per overdue row', async (t) => {
  const chromium = browser();
  if (!chromium) {
    t.skip('no browser could start (install Debian\'s chromium: apt-get install chromium); the HTML chart was not checked');
    return;
  }
  const dir = tempProject('keyshift-report-html-');
  const { end } = await writeHistory(dir, { count: 4, days: 120 });
  const env = baseEnv({ KEYSHIFT_NOW: end.toISOString(), KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  const page = join(dir, 'report.html');
  const written = runCli(['report', '--format', 'html', '--out', page], { cwd: dir, env });
  assert.equal(written.code, 0, written.stderr);
  const html = readFileSync(page, 'utf8');
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'self-contained: no script, nothing fetched');

  const png = join(dir, 'report.png');
  const failure = screenshot(chromium, page, png);
  if (failure) {
    t.skip(`the browser could not render (${failure}); the HTML chart was not checked`);
    return;
  }
  const image = readPng(png);
  const records = readEvidence(dir);
  const report = json(runCli(['report', '--json'], { cwd: dir, env }));
  const count = (events) => records.filter((r) => events.includes(r.event)).length;
  // +1 each: the legend's swatch.
  assert.equal(countBlobs(image, COLOURS.switched).length, count(['provisioned', 'switched']) + 1, 'one dot per switch or provision');
  assert.equal(countBlobs(image, COLOURS.decommissioned).length, count(['decommissioned']) + 1, 'one mark per decommission');
  const overdueRows = report.secrets.filter((r) => r.overdue).length;
  assert.ok(overdueRows >= 4);
  assert.equal(countBlobs(image, COLOURS.overdue).length, overdueRows + 1, 'one red band per overdue row');
});
