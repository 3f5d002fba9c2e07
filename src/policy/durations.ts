/**
 * Durations in policies and flags: a whole number followed by one unit (`90d`, `48h`, `30s`).
 * No fractions and no compound forms (`1d12h`): a rotation interval is read by auditors as well as
 * by keyshift, and one number with one unit cannot be misread.
 */

const UNIT_MS = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;
type Unit = keyof typeof UNIT_MS;

/** Units from the largest down, so formatDuration finds the shortest exact form first. */
const UNITS_LARGEST_FIRST: Unit[] = ['w', 'd', 'h', 'm', 's'];

/**
 * The longest duration: 100 years. Anything longer means "never", and a much longer one pushes
 * the times keyshift computes (last rotation + interval, + fallback window, + observe) past the
 * last date JavaScript can hold (year 275760), where every command that reads the secret failed.
 */
export const MAX_DURATION_MS = 36_500 * UNIT_MS.d;
const MAX_DURATION_TEXT = '36500d (100 years)';

/** The accepted form as a regular expression source; the schema and its JSON Schema use it too. */
export const DURATION_PATTERN = '^[1-9][0-9]*[smhdw]$';

const POSITIVE = new RegExp(DURATION_PATTERN);
const ZERO = /^0+[smhdw]?$/;

/** Milliseconds of `<positive integer><unit>`, or null for anything else (zero included). */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string' || !POSITIVE.test(text)) return null;
  return toMs(text);
}

/** Like parseDuration but also accepts zero (`0`, `0s`, `0d`…) for flags such as --fallback-window 0. */
export function parseDurationAllowZero(text: string): number | null {
  if (typeof text !== 'string') return null;
  if (ZERO.test(text)) return 0;
  return parseDuration(text);
}

/** The shortest exact form: 172800000 → `2d`, 90000 → `90s`. Sub-second rests fall back to `ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in milliseconds: ${ms}`);
  if (ms === 0) return '0s';
  for (const unit of UNITS_LARGEST_FIRST) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Why `text` is not a duration and how to write one, without the field name (the schema adds the
 * field's path). `example` should suit the field: `90d` for an interval, `48h` for a window.
 */
export function describeBadDuration(text: unknown, example = '48h', options: { allowZero?: boolean } = {}): string {
  const shown = typeof text === 'string' ? quote(text) : 'this value';
  if (options.allowZero) {
    return `${shown} is not a duration; use 0 or a whole number with a unit s, m, h, d or w (e.g. ${example})`;
  }
  if (typeof text === 'string' && ZERO.test(text)) {
    return `${shown} is zero; use a positive whole number with a unit s, m, h, d or w (e.g. ${example})`;
  }
  if (typeof text === 'string' && POSITIVE.test(text)) {
    return `${shown} is longer than the longest duration, ${MAX_DURATION_TEXT}; use a shorter one (e.g. ${example})`;
  }
  return `${shown} is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. ${example})`;
}

/**
 * The one-line message for a bad duration in a named field or flag, e.g.
 * `fallbackWindow: "48x" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 48h)`.
 */
export function durationMessage(
  field: string,
  text: unknown,
  example = exampleFor(field),
  options: { allowZero?: boolean } = {},
): string {
  return `${field}: ${describeBadDuration(text, example, options)}`;
}

function exampleFor(field: string): string {
  if (/interval$/i.test(field)) return '90d';
  if (/timeout$/i.test(field)) return '30s';
  if (/horizon$/i.test(field)) return '14d';
  return '48h';
}

function toMs(text: string): number | null {
  const unit = text.slice(-1) as Unit;
  const ms = Number(text.slice(0, -1)) * UNIT_MS[unit];
  // Past the maximum (a 20-digit count would even lose precision): not a duration.
  return Number.isSafeInteger(ms) && ms <= MAX_DURATION_MS ? ms : null;
}

/** Durations are never secret, but a pasted value may be long or hold control characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}
