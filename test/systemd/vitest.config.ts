import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// The booted-systemd suite (design §8): `npm run test:systemd`, as root. Kept out of `npm test`'s
// include by its file suffix; one container per file and version, files one after another
// (two shared cores, and each container is a whole booted system).
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/systemd/**/*.systemd.ts'],
    globalSetup: ['test/systemd/harness/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
