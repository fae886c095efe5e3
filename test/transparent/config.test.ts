/** --transparent and a route's transparent=, from the command line (and environment) to each routed socket. */
import { describe, expect, it } from 'vitest';
import type { InheritedSocket } from '../../src/activation/inherited-socket.js';
import { buildConfig, DEFAULTS, type RawOptions } from '../../src/config/config.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { routeSockets } from '../../src/routing.js';
import { cliStdout, runCliSync } from '../helpers/proxy.js';

const raw = (overrides: Partial<RawOptions>): RawOptions => ({
  ...DEFAULTS,
  route: [],
  listen: [],
  ...overrides,
});

const socket = (fd: number, name: string, family: InheritedSocket['family'] = 'inet'): InheritedSocket => ({
  fd,
  name,
  role: 'stream-listener',
  type: 'stream',
  family,
  label: name,
  localAddress: family === 'unix' ? '/run/front.sock' : '198.51.100.1:80',
});

describe('transparent mode configuration', () => {
  it('is off unless asked for', () => {
    const config = buildConfig('203.0.113.2:8080', raw({}));
    expect(routeSockets([socket(3, 'unknown')], config).routed[0]!.transparent).toBe(false);
  });

  it('--transparent applies to every route that does not set its own; transparent=no exempts one', () => {
    const config = buildConfig(
      '203.0.113.2:8080',
      raw({
        transparent: true,
        route: [
          'web=203.0.113.2:81,transparent=no',
          'dns=[2001:db8::2]:53,transparent=yes,proxy-protocol=v2',
          'admin=/run/admin.sock,transparent=no',
        ],
      }),
    );
    expect(config.routes.get('dns')!.text).toBe('[2001:db8::2]:53');
    expect(config.routeProxyProtocol.get('dns')).toBe('v2');
    const { routed } = routeSockets(
      [socket(3, 'web'), socket(4, 'dns'), socket(5, 'admin'), socket(6, 'other')],
      config,
    );
    expect(routed.map((r) => r.transparent)).toEqual([false, true, false, true]);
  });

  it('transparent=yes turns it on for one route only', () => {
    const config = buildConfig('203.0.113.2:8080', raw({ route: ['web=203.0.113.2:81,transparent=yes'] }));
    const { routed } = routeSockets([socket(3, 'web'), socket(4, 'other')], config);
    expect(routed.map((r) => r.transparent)).toEqual([true, false]);
  });

  it.each([
    [['web=203.0.113.2:81,transparent=on'], "--route web: transparent: 'on' is not one of yes, no"],
    [['web=203.0.113.2:81,transparent=yes,transparent=no'], '--route web: transparent given twice'],
  ])('rejects --route %j as a usage error', (route, message) => {
    const build = () => buildConfig('203.0.113.2:8080', raw({ route }));
    expect(build).toThrow(UsageError);
    expect(build).toThrow(message);
  });

  it.each([
    [
      'a unix listener',
      [socket(3, 'front', 'unix')],
      '203.0.113.2:80',
      /fd 3 \(front\) is a unix socket: transparent mode keeps the client's IP address, and a unix socket has none/,
    ],
    [
      'a unix backend',
      [socket(3, 'front')],
      '@app',
      /fd 3 \(front\) goes to the unix socket @app: transparent mode keeps/,
    ],
  ])('refuses %s as a configuration error', (_what, sockets, backend, message) => {
    const config = buildConfig(backend, raw({ transparent: true }));
    const route = () => routeSockets(sockets, config);
    expect(route).toThrow(ConfigError);
    expect(route).toThrow(message);
  });

  it('SOCKRELAY_TRANSPARENT turns it on like the flag, and --help and the man page name both', () => {
    // Refused at start for a unix backend only when on: the variable was read.
    const viaEnv = runCliSync(['--listen', '127.0.0.1:0', '/run/app.sock'], { SOCKRELAY_TRANSPARENT: '1' });
    expect(viaEnv.code).toBe(78);
    expect(viaEnv.stderr).toMatch(/goes to the unix socket \/run\/app\.sock: transparent mode keeps/);
    const help = cliStdout(['--help']);
    expect(help).toMatch(/--transparent\s+bind each backend connection to the\s+client's own address/);
    expect(help).toContain('SOCKRELAY_TRANSPARENT');
    expect(help).toContain('transparent=yes|no');
    expect(cliStdout(['man'])).toMatch(/SOCKRELAY_TRANSPARENT/);
  });
});
