/**
 * `date.toISOString()`, built from the UTC fields. A process's first `toISOString` sets up V8's
 * date cache with the local time zone (read through ICU): a quarter of a millisecond, more with
 * TZ set, on the path of every `plan` and `status` (bench/README.md, start-up); the UTC getters
 * do not need it. Years outside 0-9999 (and invalid dates, which throw) go to toISOString.
 */
export function isoTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  // Joined, not concatenated: one flat string, where a template literal would leave a tree of 20
  // pieces (~600 bytes) in every reason a rotation keeps for its results.
  return [pad(year, 4), '-', pad(date.getUTCMonth() + 1, 2), '-', pad(date.getUTCDate(), 2), 'T', pad(date.getUTCHours(), 2), ':', pad(date.getUTCMinutes(), 2), ':', pad(date.getUTCSeconds(), 2), '.', pad(date.getUTCMilliseconds(), 3), 'Z'].join('');
}

function pad(value: number, width: number): string {
  const text = String(value);
  return text.length >= width ? text : '0000'.slice(0, width - text.length) + text;
}

export const isoTimeOrNull = (date: Date | null): string | null => (date ? isoTime(date) : null);
