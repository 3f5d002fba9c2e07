import type { SecretValue } from './secret-value.js';

/**
 * Every spelling of a value that may turn up in text keyshift shows (hook output, an AWS error
 * message): a Kubernetes manifest holds it in base64, `xxd -p` in hex, a JSON body escaped, and
 * `base64` / openssl wrap long encodings into lines. One list, so every place that scrubs text
 * scrubs the same forms (docs/hooks.md#what-keyshift-logs).
 */

export const REDACTED = '[redacted]';

/** Encoded forms shorter than this are too likely to occur by chance to be scrubbed. */
const MIN_ENCODED_LENGTH = 8;
/** Line widths of `base64` (coreutils, MIME: 76) and PEM / `openssl base64` (64). */
const WRAP_WIDTHS = [64, 76];

/** The forms of `value` to scrub, longest first (a longer form is replaced before a form inside it). */
export function secretForms(value: SecretValue): string[] {
  const bytes = value.revealBytes();
  try {
    const text = bytes.toString('utf8');
    const encoded = new Set<string>();
    const add = (form: string): void => void (form.length >= MIN_ENCODED_LENGTH && encoded.add(form));

    const base64 = bytes.toString('base64');
    const stable = stableBase64(bytes); // also the start of base64(value + "\n") and other suffixes
    for (const form of [base64, stable]) {
      add(form);
      add(toUrlAlphabet(form));
      for (const width of WRAP_WIDTHS) {
        add(wrap(form, width, '\n'));
        add(wrap(form, width, '\r\n'));
      }
    }
    // The value inside a longer encoded blob (a .dockerconfigjson, `NAME=value` base64-encoded)
    // starts at one of three offsets within base64's 3-byte groups.
    for (const shift of [1, 2]) {
      const middle = shiftedBase64(bytes, shift);
      add(middle);
      add(toUrlAlphabet(middle));
    }
    add(base64.replace(/=+$/, ''));
    add(toUrlAlphabet(base64).replace(/=+$/, ''));
    add(bytes.toString('hex'));
    add(bytes.toString('hex').toUpperCase());
    add(JSON.stringify(text).slice(1, -1));
    add(asciiJson(text));
    add(encodeURIComponent(text));

    const forms = [...encoded];
    if (text !== '') forms.push(text);
    return [...new Set(forms)].sort((a, b) => b.length - a.length);
  } finally {
    bytes.fill(0);
  }
}

/** A cut-off fragment shorter than this is left alone (almost any text ends like some form). */
const MIN_FRAGMENT = 4;

/**
 * Replaces every form in `text` with `[redacted]`. When the text was cut short (`truncated`), a
 * trailing fragment (4 characters or more) that starts a form is dropped too: the cut may have
 * split a value.
 */
export function redactForms(text: string, forms: readonly string[], truncated = false): string {
  let out = text;
  for (const form of forms) if (out.includes(form)) out = out.split(form).join(REDACTED);
  if (truncated) {
    for (const form of forms) {
      for (let n = Math.min(out.length, form.length - 1); n >= MIN_FRAGMENT; n--) {
        if (out.endsWith(form.slice(0, n))) {
          out = out.slice(0, out.length - n) + REDACTED;
          break;
        }
      }
    }
  }
  return out;
}

/** `text` with every form of every value replaced (values keyshift holds for the message's context). */
export function redactSecrets(text: string, values: ReadonlyArray<SecretValue | null | undefined>): string {
  let out = text;
  for (const value of values) if (value) out = redactForms(out, secretForms(value));
  return out;
}

/** The part of base64(value) that stays the same whatever bytes follow the value. */
function stableBase64(bytes: Buffer): string {
  return bytes.subarray(0, bytes.length - (bytes.length % 3)).toString('base64');
}

/** base64 of the value preceded by `shift` unknown bytes, without the characters those touch. */
function shiftedBase64(bytes: Buffer, shift: number): string {
  const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
  try {
    return stableBase64(padded).slice(4);
  } finally {
    padded.fill(0);
  }
}

function toUrlAlphabet(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_');
}

function wrap(text: string, width: number, eol: string): string {
  const lines: string[] = [];
  for (let at = 0; at < text.length; at += width) lines.push(text.slice(at, at + width));
  return lines.join(eol);
}

/** JSON with every non-ASCII character as \uXXXX (Python's json.dumps, jq -a). */
function asciiJson(text: string): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
