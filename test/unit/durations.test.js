import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeBadDuration,
  durationMessage,
  formatDuration,
  parseDuration,
  parseDurationAllowZero,
} from '../../dist/policy/durations.js';

const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

test('parseDuration accepts a positive whole number with one unit', () => {
  const cases = [
    ['2s', 2 * SECOND],
    ['90s', 90 * SECOND],
    ['15m', 15 * 60 * SECOND],
    ['48h', 48 * HOUR],
    ['90d', 90 * DAY],
    ['2w', 14 * DAY],
    ['365d', 365 * DAY],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration rejects zero, signs, decimals, missing or unknown units', () => {
  const bad = ['', '0', '0s', '00d', '-1d', '+1d', '1.5d', '1,5d', '90', 'd', '90x', '90D', '1ms', '1y', ' 90d', '90d ', '1d12h', '01d', '99999999999999999999d'];
  for (const text of bad) assert.equal(parseDuration(text), null, JSON.stringify(text));
  assert.equal(parseDuration(90), null, 'a number is not a duration string');
});

test('parseDuration accepts up to 100 years (36500d) and nothing longer', () => {
  assert.equal(parseDuration('36500d'), 36_500 * DAY);
  assert.equal(parseDuration('5214w'), 5214 * 7 * DAY);
  // Longer ones would put computed times past the last JavaScript date (found by test/fuzz).
  for (const text of ['36501d', '5215w', '876001h', '14800000w']) assert.equal(parseDuration(text), null, text);
});

test('parseDurationAllowZero accepts zero in every unit and positive durations', () => {
  for (const text of ['0', '0s', '0m', '0h', '0d', '0w', '00', '000s']) assert.equal(parseDurationAllowZero(text), 0, text);
  assert.equal(parseDurationAllowZero('48h'), 48 * HOUR);
  for (const text of ['-0', '-1h', '0x', '1.0h', '']) assert.equal(parseDurationAllowZero(text), null, text);
});

test('formatDuration gives the shortest exact form', () => {
  const cases = [
    [172800000, '2d'],
    [90000, '90s'],
    [3600000, '1h'],
    [60000, '1m'],
    [7 * DAY, '1w'],
    [10 * DAY, '10d'],
    [36 * HOUR, '36h'],
    [0, '0s'],
    [1500, '1500ms'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  assert.throws(() => formatDuration(-1), RangeError);
  assert.throws(() => formatDuration(1.5), RangeError);
});

test('formatDuration and parseDuration round-trip', () => {
  for (const text of ['1s', '59s', '1m', '90m', '1h', '25h', '1d', '13d', '1w', '52w']) {
    const ms = parseDuration(text);
    assert.equal(parseDuration(formatDuration(ms)), ms, text);
  }
});

test('durationMessage names the field, the bad value and the fix', () => {
  assert.equal(
    durationMessage('fallbackWindow', '48x'),
    'fallbackWindow: "48x" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 48h)',
  );
  assert.match(durationMessage('secrets[0].interval', '1.5d'), /^secrets\[0\]\.interval: "1\.5d" is not a duration; .*\(e\.g\. 90d\)$/);
  assert.match(durationMessage('--horizon', 'soon'), /\(e\.g\. 14d\)$/);
  assert.match(durationMessage('interval', '0d'), /"0d" is zero; use a positive whole number/);
  assert.match(durationMessage('--fallback-window', 'x', '0', { allowZero: true }), /use 0 or a whole number/);
});

test('describeBadDuration does not echo non-strings and shortens long values', () => {
  assert.match(describeBadDuration({ nested: 'value' }), /^this value is not a duration/);
  const long = describeBadDuration('x'.repeat(500));
  assert.ok(long.length < 200, long);
});

test('a duration past 100 years is refused with the longest one allowed; the default example is 48h', () => {
  assert.equal(describeBadDuration('36501d'), '"36501d" is longer than the longest duration, 36500d (100 years); use a shorter one (e.g. 48h)');
  assert.equal(describeBadDuration('99999999999999999999w', '90d'), '"99999999999999999999w" is longer than the longest duration, 36500d (100 years); use a shorter one (e.g. 90d)');
  assert.equal(describeBadDuration('5x'), '"5x" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 48h)');
  assert.match(durationMessage('hooks[0].timeout', 'soon'), /\(e\.g\. 30s\)$/);
});

test('a long bad value is shown as its first 37 characters and "...", a value of 40 in full', () => {
  const long = 'y'.repeat(37) + 'z'.repeat(10);
  assert.equal(describeBadDuration(long), `"${'y'.repeat(37)}..." is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 48h)`);
  assert.ok(describeBadDuration('w'.repeat(40)).startsWith(`"${'w'.repeat(40)}" is not`));
});

test('only text is a duration: numbers and other values are refused, zero included', () => {
  for (const value of [0, 5, null, undefined, ['1d'], { d: 1 }]) {
    assert.equal(parseDuration(value), null, String(value));
    assert.equal(parseDurationAllowZero(value), null, String(value));
  }
  assert.throws(() => formatDuration(-1), /not a duration in milliseconds: -1/);
});
