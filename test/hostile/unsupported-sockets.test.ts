/**
 * Sockets sockrelay cannot serve are refused at start (exit 78, one line naming the fd), not
 * served as something they are not: a netlink socket is no UDP socket, and a TCP or unix stream
 * socket that neither listens nor is connected is no Accept=yes connection.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/proxy.js';

const EXEC_WITH_SOCKET = fileURLToPath(new URL('../helpers/exec-with-socket.py', import.meta.url));

function runWith(kind: string) {
  const result = spawnSync('python3', [EXEC_WITH_SOCKET, kind, process.execPath, CLI, '127.0.0.1:1'], {
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    // A socket taken for one sockrelay can serve runs until killed.
    timeout: 10_000,
  });
  return { code: result.status, stderr: result.stderr };
}

describe('inherited sockets sockrelay cannot serve', () => {
  it.each([
    [
      'netlink',
      /^sockrelay: fd 3 \(unknown\) is a datagram socket of a family other than inet, inet6 and unix, which sockrelay cannot proxy\n$/,
    ],
    [
      'tcp-unconnected',
      /^sockrelay: fd 3 \(unknown\) is an inet stream socket that neither listens nor is connected, which sockrelay cannot proxy\n$/,
    ],
    // Failed before: a unix peer's address can be empty, so only TCP was told apart; this one was
    // taken for an Accept=yes connection.
    [
      'unix-unconnected',
      /^sockrelay: fd 3 \(unknown\) is a unix stream socket that neither listens nor is connected, which sockrelay cannot proxy\n$/,
    ],
  ])('refuses a %s socket with exit 78 and one line naming the fd', (kind, message) => {
    const { code, stderr } = runWith(kind);
    expect(stderr).toMatch(message);
    expect(code).toBe(78);
  });
});
