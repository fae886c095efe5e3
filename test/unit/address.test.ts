import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/config/address.js';
import { formatSocketAddress, resolveAddress } from '../../src/backend/resolve.js';

describe('parseAddress', () => {
  it('reads HOST:PORT', () => {
    expect(parseAddress('127.0.0.1:8080')).toEqual({
      kind: 'inet',
      host: '127.0.0.1',
      port: 8080,
      text: '127.0.0.1:8080',
    });
    expect(parseAddress('localhost:80')).toMatchObject({ kind: 'inet', host: 'localhost', port: 80 });
  });

  it('reads [IPv6]:PORT, which systemd-socket-proxyd rejects', () => {
    expect(parseAddress('[::1]:8080')).toMatchObject({ kind: 'inet', host: '::1', port: 8080 });
    expect(parseAddress('[fe80::1%lo]:80')).toMatchObject({ host: 'fe80::1%lo' });
  });

  it('reads unix paths and abstract names', () => {
    expect(parseAddress('/run/app.sock')).toMatchObject({
      kind: 'unix',
      path: '/run/app.sock',
      abstract: false,
    });
    expect(parseAddress('@app')).toMatchObject({ kind: 'unix', path: 'app', abstract: true });
  });

  it.each([
    ['8080', /HOST:PORT/],
    ['::1:80', /\[ADDRESS\]:PORT/],
    ['[::1]80', /\[IPv6\]:PORT/],
    ['[nope]:80', /IPv6 address/],
    ['host:', /port/],
    ['host:99999', /1\.\.65535/],
    ['host:0', /1\.\.65535/],
    [':80', /no host/],
    ['@', /names no socket/],
    [`/${'x'.repeat(120)}`, /too long/],
  ])('rejects %j', (text, why) => {
    expect(() => parseAddress(text, 'BACKEND')).toThrow(why);
    expect(() => parseAddress(text, 'BACKEND')).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ADDRESS', exitCode: 64 }),
    );
  });

  it('allows port 0 only where asked (--listen)', () => {
    expect(parseAddress('127.0.0.1:0', '--listen', { allowPortZero: true })).toMatchObject({ port: 0 });
  });
});

describe('resolveAddress', () => {
  it('keeps literals without a lookup', async () => {
    const lookup = () => Promise.reject(new Error('must not be called'));
    expect(await resolveAddress(parseAddress('[::1]:80'), lookup)).toEqual([
      { family: 'inet6', address: '::1', port: 80 },
    ]);
    expect(await resolveAddress(parseAddress('@x'), lookup)).toEqual([
      { family: 'unix', path: 'x', abstract: true },
    ]);
  });

  it('keeps every resolved address, in order, without duplicates', async () => {
    const lookup = async () => [
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
    const addresses = await resolveAddress(parseAddress('db.internal:5432'), lookup);
    expect(addresses.map(formatSocketAddress)).toEqual(['[::1]:5432', '127.0.0.1:5432']);
  });

  it('turns a failed lookup into a config error naming the backend', async () => {
    const lookup = () => Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    await expect(resolveAddress(parseAddress('nowhere.invalid:80'), lookup)).rejects.toMatchObject({
      code: 'ERR_BACKEND_RESOLVE',
      exitCode: 78,
      message: expect.stringContaining('nowhere.invalid:80'),
    });
  });
});
