/**
 * Put the checkout's shipped units into a container root exactly as shipped, plus drop-ins that
 * change only what a test machine needs: timeouts (to seconds) and nothing else. Paths stay as
 * shipped too: /usr/local/bin/sockrelay and /usr/local/bin/heavy-backend are small wrappers that
 * exec the bound-in checkout (/opt/sockrelay) with the bound-in node. Ports stay as shipped: the
 * container has a network of its own.
 */
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CHECKOUT } from './container.js';

export const UNITS_DIR = join(CHECKOUT, 'units');
const IN_CONTAINER = '/opt/sockrelay';

/** Flag values the suite shortens, per shipped unit. */
export const SHORTER_FLAGS: Record<string, Record<string, string>> = {
  'sockrelay.service': { '--exit-idle-time': '3s', '--shutdown-timeout': '8s' },
  'sockrelay-dualstack.service': { '--exit-idle-time': '3s' },
  'sockrelay-private.service': { '--exit-idle-time': '3s' },
  'sockrelay-routed.service': { '--exit-idle-time': '3s' },
  'sockrelay-ondemand.service': { '--exit-idle-time': '3s', '--connect-timeout': '15s' },
};
/** Unit settings the suite shortens (whole [Service] lines). */
const SHORTER_SETTINGS: Record<string, string[]> = {
  'sockrelay.service': ['TimeoutStopSec=12s'],
  'sockrelay-metrics.service': ['WatchdogSec=3s'],
};

/** The shipped ExecStart= with some --flag=value replaced (each must be there already). */
export function withFlags(unitText: string, flags: Record<string, string>): string {
  const line = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
  if (!line) throw new Error('unit has no ExecStart=');
  let execStart = line.slice('ExecStart='.length);
  for (const [flag, value] of Object.entries(flags)) {
    const re = new RegExp(`${flag}=\\S+`);
    if (!re.test(execStart)) throw new Error(`shipped ExecStart= has no ${flag}`);
    execStart = execStart.replace(re, `${flag}=${value}`);
  }
  return execStart;
}

/** Writes a drop-in and returns its path (for the test to remove). */
export function dropIn(root: string, unit: string, name: string, text: string): string {
  const dir = join(root, 'etc/systemd/system', `${unit}.d`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, text);
  return path;
}

/** Replace a unit's ExecStart= by a drop-in (used by tests that change flags at run time too). */
export function execStartDropIn(execStart: string): string {
  return `[Service]\nExecStart=\nExecStart=${execStart}\n`;
}

function wrapper(path: string, script: string): void {
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
}

export function installUnits(root: string): void {
  const system = join(root, 'etc/systemd/system');
  // Unit files only: units/ also holds monitoring rules and example configs in folders.
  for (const unit of readdirSync(UNITS_DIR).filter((f) => /\.(service|socket)$/.test(f)))
    copyFileSync(join(UNITS_DIR, unit), join(system, unit));
  for (const [unit, flags] of Object.entries(SHORTER_FLAGS)) {
    const shipped = readFileSync(join(UNITS_DIR, unit), 'utf8');
    dropIn(root, unit, 'test-timeouts', execStartDropIn(withFlags(shipped, flags)));
  }
  for (const [unit, lines] of Object.entries(SHORTER_SETTINGS)) {
    dropIn(root, unit, 'test-settings', `[Service]\n${lines.join('\n')}\n`);
  }

  const bin = join(root, 'usr/local/bin');
  wrapper(join(bin, 'sockrelay'), `exec /usr/local/bin/node ${IN_CONTAINER}/dist/launch.cjs "$@"`);
  // A heavy backend that takes seconds to start listening, as the on-demand unit expects.
  wrapper(
    join(bin, 'heavy-backend'),
    `exec /usr/local/bin/node ${IN_CONTAINER}/test/systemd/fixtures/backend.mjs --delay-ms=3000 "heavy=tcp:\${1#--listen=}"`,
  );
  // Every other backend the shipped units point at, named so a reply says which one answered.
  const backends = [
    'web=tcp:127.0.0.1:8080',
    'dual=tcp:127.0.0.1:5001',
    'dual=udp:127.0.0.1:5001',
    'inetd=tcp:127.0.0.1:7001',
    'private=unix:/run/myapp/http.sock',
    'admin=unix:/run/admin.sock',
  ];
  writeFileSync(
    join(system, 'sockrelay-test-backends.service'),
    `[Unit]\nDescription=Backends for the sockrelay systemd suite\n[Service]\nExecStartPre=mkdir -p /run/myapp\n` +
      `ExecStart=/usr/local/bin/node ${IN_CONTAINER}/test/systemd/fixtures/backend.mjs ${backends.join(' ')}\n` +
      `[Install]\nWantedBy=multi-user.target\n`,
  );
  const wants = join(system, 'multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  symlinkSync('../sockrelay-test-backends.service', join(wants, 'sockrelay-test-backends.service'));

  // What a host with prometheus-node-exporter has, which the metrics unit relies on.
  const group = spawnSync('chroot', [root, 'groupadd', '--system', 'prometheus'], { encoding: 'utf8' });
  if (group.status !== 0) throw new Error(`groupadd prometheus: ${group.stderr.trim()}`);
  const textfiles = join(root, 'var/lib/prometheus/node-exporter');
  mkdirSync(textfiles, { recursive: true });
  spawnSync('chroot', [
    root,
    'sh',
    '-c',
    'chgrp prometheus /var/lib/prometheus/node-exporter && chmod 2775 /var/lib/prometheus/node-exporter',
  ]);
}

/** The .socket units of the shipped set, to start after boot. */
export function shippedSockets(): string[] {
  return readdirSync(UNITS_DIR).filter((u) => u.endsWith('.socket'));
}
