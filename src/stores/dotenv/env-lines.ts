/**
 * A .env file as lines, so that keyshift changes only its own lines and keeps every other byte:
 * comments, blank lines, order, `export ` prefixes, line endings. Values are read the way the
 * `dotenv` package reads them and written so that `dotenv` and docker's `--env-file` agree.
 */

export interface EnvFile {
  /** Each line with its own line ending ('' for a last line without one). */
  lines: Array<{ text: string; eol: string }>;
  /** The line ending new lines get: the file's first one, else \n. */
  eol: string;
}

const ASSIGNMENT = /^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=)(.*)$/;

export function parseEnvFile(text: string): EnvFile {
  const lines: EnvFile['lines'] = [];
  const pattern = /([^\r\n]*)(\r\n|\n|\r(?!\n)|$)/g;
  for (let match = pattern.exec(text); match && match.index < text.length; match = pattern.exec(text)) {
    lines.push({ text: match[1] ?? '', eol: match[2] ?? '' });
    if (match[0].length === 0) break;
  }
  return { lines, eol: lines.find((l) => l.eol)?.eol ?? '\n' };
}

export function formatEnvFile(file: EnvFile): string {
  let out = '';
  for (const line of file.lines) out += line.text + line.eol;
  return out;
}

/** Name → index of the line that assigns it (the last one wins, as in dotenv and docker). */
export function indexNames(file: EnvFile): Map<string, number> {
  const index = new Map<string, number>();
  file.lines.forEach((line, i) => {
    const match = ASSIGNMENT.exec(line.text);
    if (match) index.set(match[2] as string, i);
  });
  return index;
}

/** The value of an assignment line as `dotenv` reads it (quotes removed, an unquoted `#…` comment cut). */
export function valueOfLine(text: string): string {
  const raw = (ASSIGNMENT.exec(text)?.[3] ?? '').trimStart();
  const quote = raw[0];
  if (quote === "'" || quote === '"' || quote === '`') {
    const end = raw.lastIndexOf(quote);
    if (end > 0) return raw.slice(1, end);
  }
  const comment = raw.search(/\s#/);
  return (comment >= 0 ? raw.slice(0, comment) : raw.startsWith('#') ? '' : raw).trim();
}

/** A value needs no quotes when every reader takes it verbatim: no leading/trailing space, no `#`, no quote first. */
const PLAIN = /^[^\s#'"`\\][^#]*$/;

/**
 * The text after `=` for a value, or an error text when no quoting would read back the same value
 * in `dotenv` (multi-line and NUL values cannot be written on one line at all).
 */
export function quoteValue(value: string): { text: string } | { error: string } {
  if (/[\r\n]/.test(value)) return { error: 'it contains a line break' };
  if (value.includes('\0')) return { error: 'it contains a NUL character' };
  if (value === '' || (PLAIN.test(value) && !/\s$/.test(value))) return { text: value };
  if (!value.includes("'")) return { text: `'${value}'` };
  if (!value.includes('"') && !value.includes('\\')) return { text: `"${value}"` };
  if (!value.includes('`')) return { text: `\`${value}\`` };
  return { error: "it contains all three quote characters (' \" `), so no dotenv quoting reads it back unchanged" };
}

/** Replaces the value of the assignment at `index`, keeping its prefix (`export `, spacing). */
export function setLineValue(file: EnvFile, index: number, quoted: string): void {
  const line = file.lines[index] as EnvFile['lines'][number];
  const prefix = ASSIGNMENT.exec(line.text)?.[1] ?? '';
  line.text = `${prefix}${quoted}`;
}

/** Inserts `NAME=value` after line `after` (-1: at the end of the file). */
export function insertLine(file: EnvFile, after: number, name: string, quoted: string): void {
  const at = after < 0 ? file.lines.length : after + 1;
  const previous = file.lines[at - 1];
  if (previous && previous.eol === '') previous.eol = file.eol; // the file did not end with a newline
  file.lines.splice(at, 0, { text: `${name}=${quoted}`, eol: file.eol });
}

export function removeLine(file: EnvFile, index: number): void {
  file.lines.splice(index, 1);
}
