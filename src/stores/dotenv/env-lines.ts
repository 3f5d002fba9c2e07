/**
 * A .env file as lines, so that keyshift changes only its own lines and keeps every other byte:
 * comments, blank lines, order, `export ` prefixes, line endings. Values are read the way the
 * `dotenv` package reads them and written so that `dotenv` and docker's `--env-file` agree.
 */

export interface EnvLine {
  /** null once removed (a tombstone, so no index ever shifts). */
  text: string | null;
  eol: string;
  /** Lines inserted right after this one. */
  after?: EnvLine[];
}

export interface EnvFile {
  lines: EnvLine[];
  /** The line ending new lines get: the file's first one, else \n. */
  eol: string;
  /** Name → the line that assigns it (the last one wins, as in dotenv and docker). */
  names: Map<string, EnvLine>;
}

const ASSIGNMENT = /^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=)(.*)$/;

export function parseEnvFile(text: string): EnvFile {
  const lines: EnvLine[] = [];
  const names = new Map<string, EnvLine>();
  const pattern = /([^\r\n]*)(\r\n|\n|\r(?!\n)|$)/g;
  for (let match = pattern.exec(text); match && match.index < text.length; match = pattern.exec(text)) {
    const line = { text: match[1] ?? '', eol: match[2] ?? '' };
    lines.push(line);
    const name = ASSIGNMENT.exec(line.text)?.[2];
    if (name !== undefined) names.set(name, line);
    if (match[0].length === 0) break;
  }
  return { lines, eol: lines.find((l) => l.eol)?.eol ?? '\n', names };
}

export function formatEnvFile(file: EnvFile): string {
  const out: string[] = [];
  const emit = (lines: EnvLine[]): void => {
    for (const line of lines) {
      if (line.text !== null) out.push(line.text + line.eol);
      if (line.after) emit(line.after);
    }
  };
  emit(file.lines);
  return out.join('');
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

/** The value `dotenv` reads from the line assigning `name`, or undefined when there is none. */
export function valueOf(file: EnvFile, name: string): string | undefined {
  const text = file.names.get(name)?.text;
  return typeof text === 'string' ? valueOfLine(text) : undefined;
}

/** Sets `name`'s value: in its line (keeping `export `, spacing), else in a new line right after
 * the line of `anchor`, else at the end of the file. */
export function setValue(file: EnvFile, name: string, quoted: string, anchor: string | null): void {
  const line = file.names.get(name);
  if (line) {
    line.text = `${ASSIGNMENT.exec(line.text as string)?.[1] ?? `${name}=`}${quoted}`;
    return;
  }
  const added: EnvLine = { text: `${name}=${quoted}`, eol: file.eol };
  const after = anchor === null ? undefined : file.names.get(anchor);
  if (after) (after.after ??= []).unshift(added);
  else {
    const last = lastLine(file.lines);
    if (last && last.eol === '') last.eol = file.eol; // the file did not end with a newline
    file.lines.push(added);
  }
  file.names.set(name, added);
}

export function removeValue(file: EnvFile, name: string): void {
  const line = file.names.get(name);
  if (!line) return;
  line.text = null;
  file.names.delete(name);
}

function lastLine(lines: EnvLine[]): EnvLine | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as EnvLine;
    const nested = line.after ? lastLine(line.after) : undefined;
    if (nested) return nested;
    if (line.text !== null) return line;
  }
  return undefined;
}
