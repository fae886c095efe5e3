/**
 * What each test file does around its tests: boot one container per systemd version with the
 * shipped units installed and their sockets listening, and on a failure print that version's
 * journal before tearing it down.
 */
import { afterAll, beforeAll, onTestFailed } from 'vitest';
import { Container, DESTROY_MAX_MS, type SystemdVersion } from './container.js';
import { installUnits, shippedSockets } from './units.js';

export interface Booted {
  /** The container, valid once beforeAll has run. */
  readonly c: Container;
}

export function bootWithUnits(version: SystemdVersion, extra?: (root: string) => void): Booted {
  const holder: { c?: Container } = {};
  beforeAll(async () => {
    holder.c = await Container.boot(version, (root) => {
      installUnits(root);
      extra?.(root);
    });
    await holder.c.systemctl('start', 'sockrelay-test-backends.service', ...shippedSockets());
  }, 120_000);
  afterAll(async () => {
    await holder.c?.destroy();
  }, DESTROY_MAX_MS);
  return {
    get c() {
      if (!holder.c) throw new Error(`systemd ${version}: container not booted`);
      return holder.c;
    },
  };
}

/** Call at the top of a test: on failure, print the journal for the units it names. */
export function journalOnFailure(booted: Booted, ...units: string[]): void {
  onTestFailed(async () => {
    const args = units.flatMap((u) => ['-u', u]);
    console.error(
      `--- journal (systemd ${booted.c.version}) ---\n${await booted.c.journal(...args, '-n', '200')}`,
    );
  });
}
