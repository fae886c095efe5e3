/** --proxy-protocol and a route's proxy-protocol=, from the command line to each routed socket. */
import { describe, expect, it } from 'vitest';
import type { InheritedSocket } from '../../src/activation/inherited-socket.js';
import { buildConfig, DEFAULTS, type RawOptions } from '../../src/config/config.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { routeSockets } from '../../src/routing.js';

const raw = (overrides: Partial<RawOptions>): RawOptions => ({
  ...DEFAULTS,
  route: [],
  listen: [],
  ...overrides,
});

const socket = (
  fd: number,
  name: string,
  role: InheritedSocket['role'] = 'stream-listener',
): InheritedSocket => ({
  fd,
  name,
  role,
  type: role === 'datagram' ? 'dgram' : 'stream',
  family: 'inet',
  label: name,
  localAddress: '127.0.0.1:80',
});

describe('PROXY protocol configuration', () => {
  it('is off unless asked for', () => {
    const config = buildConfig('127.0.0.1:8080', raw({}));
    expect(config.proxyProtocol).toBeNull();
    expect(routeSockets([socket(3, 'unknown')], config).routed[0]!.proxyProtocol).toBeNull();
  });

  it('--proxy-protocol applies to every route that does not set its own', () => {
    const config = buildConfig(
      '127.0.0.1:8080',
      raw({
        proxyProtocol: 'v1',
        route: [
          'web=127.0.0.1:81,proxy-protocol=v2',
          'admin=/run/admin.sock,proxy-protocol=none',
          'dns=[::1]:53',
        ],
      }),
    );
    expect(config.routes.get('web')!.text).toBe('127.0.0.1:81');
    expect(config.routes.get('admin')!.text).toBe('/run/admin.sock');
    const { routed } = routeSockets(
      [socket(3, 'web'), socket(4, 'admin'), socket(5, 'dns'), socket(6, 'other')],
      config,
    );
    expect(routed.map((r) => r.proxyProtocol)).toEqual(['v2', null, 'v1', 'v1']);
  });

  it('a plain --route NAME=BACKEND still works, a comma in a unix path included', () => {
    const config = buildConfig(undefined, raw({ route: ['web=/run/a,b.sock', 'api=@x,proxy-protocol=v2'] }));
    expect(config.routes.get('web')!.text).toBe('/run/a,b.sock');
    expect(config.routes.get('api')!.text).toBe('@x');
    expect(config.routeProxyProtocol.get('api')).toBe('v2');
    expect(config.routeProxyProtocol.has('web')).toBe(false);
  });

  it.each([
    [{ proxyProtocol: 'v3' }, "--proxy-protocol: 'v3' is not one of none, v1, v2"],
    [
      { route: ['web=127.0.0.1:81,proxy-protocol=V2'] },
      "--route web: proxy-protocol: 'V2' is not one of none, v1, v2",
    ],
    [
      { route: ['web=127.0.0.1:81,proxy=v2'] },
      "--route web: unknown option 'proxy' (the options are proxy-protocol=v1|v2|none, transparent=yes|no)",
    ],
    [
      { route: ['web=127.0.0.1:81,proxy-protocol=v1,proxy-protocol=v2'] },
      '--route web: proxy-protocol given twice',
    ],
  ])('rejects %j as a usage error', (overrides, message) => {
    const build = () => buildConfig('127.0.0.1:8080', raw(overrides));
    expect(build).toThrow(UsageError);
    expect(build).toThrow(message);
  });

  it('refuses v1 for a datagram socket: it has no UDP form', () => {
    const config = buildConfig('127.0.0.1:53', raw({ proxyProtocol: 'v1' }));
    const route = () => routeSockets([socket(3, 'dns', 'datagram')], config);
    expect(route).toThrow(ConfigError);
    expect(route).toThrow(/fd 3 \(dns\) is a datagram socket: PROXY protocol v1 describes TCP only; use v2/);
    const v2 = buildConfig('127.0.0.1:53', raw({ proxyProtocol: 'v2' }));
    expect(routeSockets([socket(3, 'dns', 'datagram')], v2).routed[0]!.proxyProtocol).toBe('v2');
  });
});
