/** Bad input: one clear line on stderr, a distinct exit code, never a stack trace. */
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CLI, runCliSync } from '../helpers/proxy.js';

const run = runCliSync;

describe('sockrelay command line', () => {
  it.each([
    [['--bogus', '127.0.0.1:80'], /unknown option '--bogus'/],
    [['--exit-idle-time=soon', '127.0.0.1:80'], /--exit-idle-time: 'soon' is not a time span/],
    [['--shutdown-timeout', '5 parsecs', '127.0.0.1:80'], /--shutdown-timeout: '5 parsecs'/],
    [['-c', '0', '127.0.0.1:80'], /--connections-max: '0'/],
    [['-c', 'many', '127.0.0.1:80'], /--connections-max: 'many'/],
    [['::1:80'], /BACKEND: '::1:80' looks like an IPv6 address: write it as \[ADDRESS\]:PORT/],
    [['127.0.0.1:99999'], /BACKEND: '127.0.0.1:99999' has a port outside/],
    [['--listen', 'nowhere', '127.0.0.1:80'], /--listen: 'nowhere' is not HOST:PORT/],
    [['--engine', 'stream', '127.0.0.1:80'], /unknown option '--engine'/],
    [['--pipe-size', 'huge', '127.0.0.1:80'], /--pipe-size: 'huge' is not a size/],
    [['a:1', 'b:2'], /too many arguments/],
  ])('rejects %j with exit code 64 and one line', (args, message) => {
    const { code, stderr } = run(args);
    expect(code).toBe(64);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 78 when there are no sockets and no --listen', () => {
    const { code, stderr } = run(['127.0.0.1:80']);
    expect(code).toBe(78);
    expect(stderr).toBe(
      'sockrelay: no sockets to serve: not socket-activated (not-activated), and no --listen given\n',
    );
  });

  it('exits 78 when the sockets are meant for another process', () => {
    const { code, stderr } = run(['127.0.0.1:80'], { LISTEN_PID: '1', LISTEN_FDS: '1' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/not socket-activated \(pid-mismatch\)/);
  });

  it('exits 78 on malformed LISTEN_* variables, naming them', () => {
    const result = spawnSync(
      '/bin/sh',
      ['-c', `LISTEN_PID=$$ exec "${process.execPath}" "${CLI}" 127.0.0.1:80`],
      {
        env: { PATH: process.env.PATH, LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' },
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(/LISTEN_FDNAMES has 1 name\(s\) but LISTEN_FDS=2/);
  });

  it('exits 78 naming the fd when it is not a socket', () => {
    // fd 3 is the read end of a pipe, passed as systemd would pass a socket.
    const result = spawnSync(
      '/bin/sh',
      ['-c', `LISTEN_PID=$$ exec "${process.execPath}" "${CLI}" 127.0.0.1:80 3</dev/null`],
      {
        env: { PATH: process.env.PATH, LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' },
        encoding: 'utf8',
        timeout: 10_000,
      },
    );
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(/fd 3 \(web\) is a char, not a socket/);
  });

  it('exits 71 when --listen cannot bind', () => {
    const { code, stderr } = run(['--listen', '192.0.2.1:1', '127.0.0.1:80']);
    expect(code).toBe(71);
    expect(stderr).toMatch(/--listen 192\.0\.2\.1:1: cannot listen \(EADDRNOTAVAIL\)/);
  });

  it('exits 71 when the metrics endpoint cannot listen: the metrics bundle throws the CLI its own error', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const { code, stderr } = run([
        '--listen',
        '127.0.0.1:0',
        '--metrics-listen',
        `127.0.0.1:${port}`,
        '127.0.0.1:80',
      ]);
      expect(stderr).toMatch(
        new RegExp(`^sockrelay: metrics: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)$`, 'm'),
      );
      expect(stderr).not.toMatch(/internal error|\n\s+at /);
      expect(code).toBe(71);
    } finally {
      taken.close();
    }
  });

  it('prints help with examples, and the version, exiting 0', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: sockrelay \[options\] \[BACKEND\]/);
    expect(help.stdout).toMatch(/Examples:/);
    const version = run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
