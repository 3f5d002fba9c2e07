/** Helpers shared by hook runners: bounded output capture, redaction, durations. */
import { redactForms } from '../secret-forms.js';

export const CAPTURE_LIMIT = 64 * 1024;
export const LOG_LIMIT = 4 * 1024;
const REDACTED = Buffer.from('[redacted]');

/** Collects up to `limit` bytes of a stream and drains (discards) the rest. */
export class BoundedCapture {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;

  constructor(readonly limit = CAPTURE_LIMIT) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.#size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.#chunks.push(Buffer.from(part));
    this.#size += part.length;
  }

  take(): { bytes: Buffer; truncated: boolean } {
    const bytes = Buffer.concat(this.#chunks);
    for (const chunk of this.#chunks) chunk.fill(0);
    this.#chunks.length = 0;
    this.#size = 0;
    return { bytes, truncated: this.truncated };
  }
}

/**
 * Replaces every occurrence of `secret` in `bytes` with `[redacted]`. When the capture was cut
 * short, a trailing fragment that starts the secret is dropped too (the cut may split a value).
 */
export function redactBytes(bytes: Buffer, secret: Buffer | null, truncated: boolean): Buffer {
  if (secret === null || secret.length === 0) return bytes;
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = bytes.indexOf(secret, from); at !== -1; at = bytes.indexOf(secret, from)) {
    parts.push(bytes.subarray(from, at), REDACTED);
    from = at + secret.length;
  }
  let rest = bytes.subarray(from);
  if (truncated) {
    for (let n = Math.min(rest.length, secret.length - 1); n > 0; n--) {
      if (rest.subarray(rest.length - n).equals(secret.subarray(0, n))) {
        rest = Buffer.concat([rest.subarray(0, rest.length - n), REDACTED]);
        break;
      }
    }
  }
  parts.push(rest);
  return Buffer.concat(parts);
}

/**
 * Redacted, decoded and trimmed text of captured output, limited to `LOG_LIMIT` characters.
 * `forms` are the value's spellings (secretForms: raw, base64, hex, JSON-escaped, wrapped…).
 */
export function loggableOutput(streams: BoundedCapture[], secret: Buffer | null, forms: readonly string[]): string {
  const texts: string[] = [];
  for (const stream of streams) {
    const { bytes, truncated } = stream.take();
    let text = redactBytes(bytes, secret, truncated).toString('utf8');
    bytes.fill(0);
    // The decoded text may spell the value differently from its raw bytes (encoded, escaped, wrapped).
    text = redactForms(text, forms, truncated);
    text = text.replace(/\s+$/, '');
    if (truncated) text += '\n[output truncated]';
    if (text !== '') texts.push(text);
  }
  const output = texts.join('\n');
  return output.length > LOG_LIMIT ? `${output.slice(0, LOG_LIMIT)}\n[output truncated]` : output;
}

/** `300000` → `5m`, `30000` → `30s`, `1500` → `1500ms`. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message.split('\n')[0] ?? message;
  }
  return String(error).split('\n')[0] ?? 'unknown error';
}
