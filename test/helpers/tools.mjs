// The machine's tools the tests use beyond Node, npm, python3, make and a C++ compiler, each with the
// Debian package that has it: the one list behind `npm run test:deps` (which installs them all)
// and test/helpers/requires.ts (which skips a test, or under SOCKRELAY_TEST_ALL=1 fails it, where
// one is missing).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @type {Record<string, { debian: string; why: string }>} */
export const TOOLS = {
  promtool: { debian: 'prometheus', why: 'judges the metrics exposition and the alert rules' },
  zsh: { debian: 'zsh', why: 'loads the zsh completion script' },
  groff: { debian: 'groff-base', why: 'renders the man page' },
  man: { debian: 'man-db', why: 'opens the man page as man(1) would' },
  nft: { debian: 'nftables', why: "the README's nftables policy routing for transparent mode" },
  ip: { debian: 'iproute2', why: 'network namespaces for transparent mode' },
  ss: { debian: 'iproute2', why: 'reads socket states the kernel keeps' },
  haproxy: { debian: 'haproxy', why: 'a real PROXY protocol consumer' },
  nginx: { debian: 'nginx-light', why: 'a real PROXY protocol consumer' },
  'systemd-socket-activate': { debian: 'systemd', why: "systemd's own activator runs the CLI" },
  'systemd-analyze': { debian: 'systemd', why: 'verifies the shipped units' },
  'aarch64-linux-gnu-g++': {
    debian: 'g++-aarch64-linux-gnu',
    why: 'cross-compiles the linux-arm64 prebuild',
  },
  'aarch64-linux-gnu-strip': {
    debian: 'binutils-aarch64-linux-gnu',
    why: 'strips the linux-arm64 prebuild',
  },
  mmdebstrap: { debian: 'mmdebstrap', why: "builds the booted-systemd suite's container roots" },
};

/** Whether `command` is an executable on PATH (a lookup, no process started). */
export function onPath(command, path = process.env.PATH ?? '') {
  return path.split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
