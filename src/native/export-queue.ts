/**
 * The addon runs one export per relay at a time and refuses another with EBUSY meanwhile. A caller
 * of the engine or of a UDP relay never sees that: its export waits for the one before it, then
 * starts, whatever became of the first.
 */
export class ExportQueue {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(start: () => Promise<T>): Promise<T> {
    const exported = this.last.then(start, start);
    this.last = exported.catch(() => undefined);
    return exported;
  }
}
