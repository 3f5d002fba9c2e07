import { closeSync, read, readSync } from 'node:fs';
import { frameBodyLength } from './file-format.js';

/**
 * Reading a store file's bytes: RecordFile for single records read again through a descriptor the
 * snapshot keeps open (log-reader.ts readEntryText), ReadWindow for a replay's pass over the records.
 */

/**
 * A store file held open for reading records again, through a read-ahead window: a run reads its
 * secrets about in the order their records were written (a compaction keeps that order), so one
 * read serves dozens of them. Records before a snapshot's end are never changed, so what the
 * window holds before that end stays true for as long as the descriptor is open (bytes after it may
 * be a torn tail that the next append writes over: the window does not keep them).
 */
export class RecordFile {
  #start = 0;
  #filled = 0;
  #window: Buffer | null = null;

  constructor(readonly fd: number) {}

  /**
   * `length` bytes at `position` (a view, valid until the next call), or null when the file ends
   * first; `end` is where the complete records end now.
   */
  bytesAt(position: number, length: number, end: number): Buffer | null {
    if (this.#window && position >= this.#start && position + length <= this.#start + this.#filled) {
      return this.#window.subarray(position - this.#start, position - this.#start + length);
    }
    if (length > WINDOW_BYTES) {
      const own = Buffer.allocUnsafe(length); // a rare huge secret does not stay allocated
      return readFullySync(this.fd, own, length, position) === length ? own : null;
    }
    this.#window ??= Buffer.allocUnsafe(WINDOW_BYTES);
    // Ahead of the window: read ahead. Behind it (read backwards, or at random): only this record.
    const span = position >= this.#start ? WINDOW_BYTES : length;
    this.#start = position;
    this.#filled = Math.min(readFullySync(this.fd, this.#window, span, position), Math.max(0, end - position));
    return this.#filled >= length ? this.#window.subarray(0, length) : null;
  }

  close(): void {
    this.#window = null;
    try {
      closeSync(this.fd);
    } catch {
      // Closed already: nothing to release.
    }
  }
}

const WINDOW_BYTES = 64 * 1024;

function readFullySync(fd: number, buffer: Buffer, length: number, position: number): number {
  let filled = 0;
  while (filled < length) {
    const got = readSync(fd, buffer, filled, length - filled, position + filled);
    if (got === 0) break;
    filled += got;
  }
  return filled;
}

const CHUNK_BYTES = 1024 * 1024;

/** Up to `length` bytes at `position` (fewer at the end of the file). */
export async function readAt(fd: number, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const filled = await readFully(fd, buffer, length, position);
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Reads into `buffer` from `position` until `length` bytes or the end of the file. */
async function readFully(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const bytesRead = await new Promise<number>((resolve, reject) => {
      read(fd, buffer, filled, length - filled, position + filled, (error, n) => (error ? reject(error) : resolve(n)));
    });
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * A sliding buffer over the file so replaying 10,000s of records costs a few large reads. It reads
 * into one buffer again and again (a fresh megabyte per read would pile up as garbage outside the
 * JS heap until a full collection): a slice is valid only until the next `ensure`.
 */
export class ReadWindow {
  #start = 0;
  #bytes: Buffer = Buffer.alloc(0);
  #buffer: Buffer | null = null;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  /**
   * False when the file ends before `offset + length`. A miss reads the next CHUNK_BYTES from
   * `offset`, or (`backwards`) the CHUNK_BYTES that end with the wanted bytes.
   */
  async ensure(offset: number, length: number, direction: 'forwards' | 'backwards' = 'forwards'): Promise<boolean> {
    if (offset + length > this.size) return false;
    if (offset >= this.#start && offset + length <= this.#start + this.#bytes.length) return true;
    const span = Math.max(length, CHUNK_BYTES);
    this.#start = direction === 'forwards' ? offset : Math.max(0, offset + length - span);
    this.#bytes = await this.#read(this.#start, Math.min(this.size - this.#start, span));
    return this.#bytes.length >= offset + length - this.#start;
  }

  /** The body length in the frame prefix at `offset` (see frameBodyLength); `ensure` it first. */
  frameLength(offset: number): number | null {
    return frameBodyLength(this.#bytes, offset - this.#start);
  }

  slice(offset: number, length: number): Buffer {
    return this.#bytes.subarray(offset - this.#start, offset - this.#start + length);
  }

  /** True when every byte from `offset` to the end is zero: space a crash allocated but never filled. */
  async zeroFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; at += CHUNK_BYTES) {
      this.#bytes = Buffer.alloc(0); // the shared buffer is about to be overwritten
      const chunk = await this.#read(at, Math.min(CHUNK_BYTES, this.size - at));
      if (!chunk.every((byte) => byte === 0)) return false;
    }
    return true;
  }

  async #read(position: number, length: number): Promise<Buffer> {
    if (!this.#buffer || this.#buffer.length < length) this.#buffer = Buffer.allocUnsafe(Math.max(length, CHUNK_BYTES));
    const filled = await readFully(this.fd, this.#buffer, length, position);
    return this.#buffer.subarray(0, filled);
  }
}
