import { timingSafeEqual } from 'node:crypto';

const REDACTED = '[redacted]';
// util.inspect.custom is this registered symbol (Node's documentation says so); naming it here
// spares every command loading node:util for it.
const INSPECT_CUSTOM = Symbol.for('nodejs.util.inspect.custom');

/**
 * The one type that holds a secret value. Every way a value could leak by accident — string
 * interpolation, JSON.stringify, console.log/util.inspect, pino — prints `[redacted]`.
 * Code that truly needs the value (the store, `get`, a hook's stdin) calls `reveal()`.
 */
export class SecretValue {
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  static fromString(text: string): SecretValue {
    return new SecretValue(Buffer.from(text, 'utf8'));
  }

  static fromBytes(bytes: Uint8Array): SecretValue {
    return new SecretValue(Buffer.from(bytes));
  }

  /** The value as UTF-8 text. The only door out; grep for it when auditing. */
  reveal(): string {
    return this.#bytes.toString('utf8');
  }

  revealBytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  get length(): number {
    return this.#bytes.length;
  }

  equals(other: SecretValue): boolean {
    const a = this.#bytes;
    const b = other.#bytes;
    return a.length === b.length && timingSafeEqual(a, b);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [INSPECT_CUSTOM](): string {
    return REDACTED;
  }
}
