/** Small formatting helpers shared by the renderers. */

/** 90061 → "1d 1h"; the two largest units, for people. */
export function humanDuration(seconds: number): string {
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = Math.max(0, Math.round(seconds));
  for (const [unit, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length > 0) break;
  }
  return parts.join(' ') || '0s';
}

export const day = (iso: string | null): string => (iso ? iso.slice(0, 10) : '-');

/** The rows grouped by control; rows without controls under "(no control)". */
export function byControl<Row extends { controls: string[] }>(rows: Row[]): Array<[string, Row[]]> {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    for (const control of row.controls.length > 0 ? row.controls : ['(no control)']) {
      groups.set(control, [...(groups.get(control) ?? []), row]);
    }
  }
  return [...groups.entries()].sort(([a], [b]) => (a === '(no control)' ? 1 : b === '(no control)' ? -1 : a.localeCompare(b)));
}

export function adherenceText(row: { adherence: string; lateBy: number | null }): string {
  return row.adherence === 'late' && row.lateBy !== null ? `late by ${humanDuration(row.lateBy)}` : row.adherence;
}
