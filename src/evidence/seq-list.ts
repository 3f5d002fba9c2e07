/**
 * A few (name, seq) pairs in the order they were first set, as a Map keeps them, in one array of
 * exactly their size. An expected state holds two (the versions it retired, its newest seq per
 * store id) and a 10,000-secret run's rollback check holds one state per secret: as Maps they were
 * about 8 MB of its peak, as these about 4.
 */
export class SeqList implements Iterable<[string, number]> {
  /** name, seq, name, seq, … */
  #flat: Array<string | number>;

  constructor(pairs: Iterable<readonly [string, number]> = []) {
    // Gathered in one growing array, then copied once to exactly its size: set() per pair copies
    // the array each time (8 ms per 1,000 lists of a checkpoint). A name given again keeps its place.
    const flat: Array<string | number> = [];
    for (const [name, seq] of pairs) {
      const at = indexOf(flat, name);
      if (at >= 0) flat[at + 1] = seq;
      else flat.push(name, seq);
    }
    this.#flat = flat.slice();
  }

  get size(): number {
    return this.#flat.length / 2;
  }

  get(name: string): number | undefined {
    const at = this.#indexOf(name);
    return at < 0 ? undefined : (this.#flat[at + 1] as number);
  }

  has(name: string): boolean {
    return this.#indexOf(name) >= 0;
  }

  /** Updates a name in place, or adds it last. */
  set(name: string, seq: number): this {
    const at = this.#indexOf(name);
    // concat, not a spread: an array made by spreading keeps room to grow (17+ slots).
    if (at >= 0) this.#flat[at + 1] = seq;
    else this.#flat = this.#flat.concat(name, seq);
    return this;
  }

  delete(name: string): boolean {
    const at = this.#indexOf(name);
    if (at < 0) return false;
    this.#flat = this.#flat.slice(0, at).concat(this.#flat.slice(at + 2));
    return true;
  }

  /** The name set first (and not deleted since). */
  oldest(): string | undefined {
    return this.#flat[0] as string | undefined;
  }

  *[Symbol.iterator](): IterableIterator<[string, number]> {
    for (let i = 0; i < this.#flat.length; i += 2) yield [this.#flat[i] as string, this.#flat[i + 1] as number];
  }

  #indexOf(name: string): number {
    return indexOf(this.#flat, name);
  }
}

/** Where `name` is in a flat name, seq, … array, or -1. */
function indexOf(flat: Array<string | number>, name: string): number {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return i;
  return -1;
}
