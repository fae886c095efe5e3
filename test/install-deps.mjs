// `sudo npm run test:deps`: apt-get installs every Debian package the tests use (test/helpers/tools.mjs)
// that is not installed yet. Packages like prometheus, nginx and haproxy start a service on install;
// the tests need only their programs, so a policy-rc.d keeps every service down meanwhile.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { TOOLS } from './helpers/tools.mjs';

const packages = [...new Set(Object.values(TOOLS).map((tool) => tool.debian))];
const missing = packages.filter((name) => spawnSync('dpkg', ['-s', name], { stdio: 'ignore' }).status !== 0);
if (missing.length === 0) {
  console.log(`test:deps: all installed (${packages.join(' ')})`);
  process.exit(0);
}
console.log(`test:deps: installing ${missing.join(' ')}`);
const run = (command, args) => {
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    console.error(
      `test:deps: ${command} ${args.join(' ')} failed (${result.error?.message ?? result.status})`,
    );
    process.exitCode = 1;
  }
  return result.status === 0;
};
const policy = '/usr/sbin/policy-rc.d';
const ownPolicy = !existsSync(policy);
if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
try {
  if (run('apt-get', ['update', '-qq'])) {
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
  }
} finally {
  if (ownPolicy) rmSync(policy, { force: true });
}
