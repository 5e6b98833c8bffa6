/** Tracks the lowest index below which every job has been sent, as batches finish out of order. */
export class Watermark {
  #next: number;
  readonly #done = new Set<number>();

  constructor(start: number) {
    this.#next = start;
  }

  get value(): number {
    return this.#next;
  }

  mark(index: number): void {
    this.#done.add(index);
    while (this.#done.delete(this.#next)) this.#next += 1;
  }
}
