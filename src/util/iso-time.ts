/**
 * `date.toISOString()`, built from the UTC fields. A process's first `toISOString` sets up V8's
 * date cache with the local time zone (read through ICU): a quarter of a millisecond, more with
 * TZ set, on the path of every `plan` and `status` (bench/issue-17.md, start-up); the UTC getters
 * do not need it. Years outside 0-9999 (and invalid dates, which throw) go to toISOString.
 */
export function isoTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  const hours = date.getUTCHours();
  const minutes = date.getUTCMinutes();
  const seconds = date.getUTCSeconds();
  const ms = date.getUTCMilliseconds();
  // One flat string from its character codes: pieces joined by `+` or a template literal would
  // stay a tree of ~20 strings in every rotation result that keeps the text (5 MB at 10,000).
  return String.fromCharCode(
    ZERO + Math.floor(year / 1000), ZERO + (Math.floor(year / 100) % 10), ZERO + (Math.floor(year / 10) % 10), ZERO + (year % 10), DASH,
    ZERO + Math.floor(month / 10), ZERO + (month % 10), DASH,
    ZERO + Math.floor(day / 10), ZERO + (day % 10), T,
    ZERO + Math.floor(hours / 10), ZERO + (hours % 10), COLON,
    ZERO + Math.floor(minutes / 10), ZERO + (minutes % 10), COLON,
    ZERO + Math.floor(seconds / 10), ZERO + (seconds % 10), DOT,
    ZERO + Math.floor(ms / 100), ZERO + (Math.floor(ms / 10) % 10), ZERO + (ms % 10), Z,
  );
}

const ZERO = 48;
const DASH = 45;
const COLON = 58;
const DOT = 46;
const T = 84;
const Z = 90;

export const isoTimeOrNull = (date: Date | null): string | null => (date ? isoTime(date) : null);
