/** Cleanups registered while a test runs, undone after it in reverse order, even when it fails. */
import { afterEach } from 'vitest';

export function useCleanups(): { push(cleanup: () => unknown): void } {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return { push: (cleanup) => void cleanups.push(cleanup) };
}
