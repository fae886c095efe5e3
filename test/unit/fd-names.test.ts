/**
 * Handover names carry any name systemd allows and any address a client can bind, within the 255
 * characters systemd allows a name (issue 27 items 1 and 2). Failed before: a listener label of
 * 120+ characters, or a UDP client bound to a 107-byte abstract name beside a 60-byte one, made
 * the name too long, and the handover threw with every connection already out of its engine.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeHandoverName,
  encodeHandoverName,
  listenerKey,
  namesLabel,
  NAME_MAX,
} from '../../src/handover/fd-names.js';

const FDNAME = /^[\x20-\x39\x3b-\x7e]*$/; // printable ASCII without ':', as systemd's fdname_is_valid

describe('handover names', () => {
  it('name a connection of a listener whose own name is 255 characters', () => {
    const label = 'x'.repeat(255);
    const record = {
      kind: 'tcp',
      id: '4194304.65535',
      role: 'backend',
      listener: label,
      bytesIn: 2n ** 64n - 1n,
      bytesOut: 12345n,
    } as const;
    const name = encodeHandoverName(record);
    expect(name.length).toBeLessThanOrEqual(NAME_MAX);
    expect(name).toMatch(FDNAME);
    const decoded = decodeHandoverName(name);
    expect(decoded).toEqual({ ...record, listener: listenerKey(label) });
    expect(namesLabel(listenerKey(label), label)).toBe(true);
    expect(namesLabel(listenerKey(label), 'y'.repeat(255))).toBe(false);
  });

  it('name a UDP session of a client bound to the longest abstract name, beside a 60-byte one', () => {
    const client = `@${'c'.repeat(107)}`;
    const local = `@${'l'.repeat(59)}`;
    const named = encodeHandoverName({ kind: 'udp', relay: 'r'.repeat(255), client, local });
    expect(named.length).toBeLessThanOrEqual(NAME_MAX);
    expect(named).toMatch(FDNAME);
    expect(decodeHandoverName(named)).toEqual({
      kind: 'udp',
      relay: listenerKey('r'.repeat(255)),
      client,
      local,
    });
    // The socket's own address is not written out at all: any client address fits beside any.
    const own = encodeHandoverName(
      { kind: 'udp', relay: 'dns', client, local: `@${'l'.repeat(107)}` },
      `@${'l'.repeat(107)}`,
    );
    expect(own.length).toBeLessThanOrEqual(NAME_MAX);
    expect(decodeHandoverName(own)).toMatchObject({ client, local: null });
  });

  it('name a client still connecting by its listener and connect deadline, one fd, unique per connection', () => {
    const record = {
      kind: 'connecting',
      id: '4194304.65535',
      listener: 'x'.repeat(255),
      connectDeadlineMs: Number.MAX_SAFE_INTEGER,
    } as const;
    const name = encodeHandoverName(record);
    expect(name.length).toBeLessThanOrEqual(NAME_MAX);
    expect(name).toMatch(FDNAME);
    expect(decodeHandoverName(name)).toEqual({ ...record, listener: listenerKey('x'.repeat(255)) });
    // A store removes fds by name: two clients of one listener with one deadline must not share one.
    expect(encodeHandoverName({ ...record, id: '4194304.65534' })).not.toBe(name);
    // A deadline past what a number holds exactly is no deadline this version wrote.
    const bytes = Buffer.from(name.slice('sockrelay~'.length), 'base64url');
    bytes.fill(0xff, bytes.length - 8);
    expect(decodeHandoverName(`sockrelay~${bytes.toString('base64url')}`)).toBeNull();
  });

  it('still read the names of the version before (JSON), left in the fd store across an upgrade', () => {
    const wire = { k: 'tcp', n: '1.0', r: 'client', l: 'web', i: '5', o: '7' };
    const name = `sockrelay~${Buffer.from(JSON.stringify(wire)).toString('base64url')}`;
    expect(decodeHandoverName(name)).toEqual({
      kind: 'tcp',
      id: '1.0',
      role: 'client',
      listener: 'web',
      bytesIn: 5n,
      bytesOut: 7n,
    });
  });

  it('refuse what is not well formed', () => {
    const good = encodeHandoverName({ kind: 'udp', relay: 'dns', client: '1.2.3.4:5', local: '5.6.7.8:53' });
    const bytes = Buffer.from(good.slice('sockrelay~'.length), 'base64url');
    for (const bad of [bytes.subarray(0, bytes.length - 1), Buffer.concat([bytes, Buffer.from([0])])])
      expect(decodeHandoverName(`sockrelay~${bad.toString('base64url')}`)).toBeNull();
    expect(decodeHandoverName(`sockrelay~${'A'.repeat(300)}`)).toBeNull();
  });
});
