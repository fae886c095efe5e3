/**
 * Names for handed-over fds (systemd's fd store, or a reload's successor).
 *
 * A name is all the next instance learns about an fd, so it carries what is needed to resume:
 * which connection and which side of it, the listener it belongs to, the bytes already
 * forwarded; for a client still connecting to its backend, its listener and connect deadline;
 * for a UDP session, the client and local addresses that key it. systemd allows
 * printable ASCII without ':' up to 255 characters, which a listener's own name (up to 255)
 * or a client's unix address (up to 108 bytes) would blow through as text. So listeners and
 * relays are named by a digest of their label, and the record is packed binary in base64url
 * behind a fixed prefix: a TCP name is always 59 characters (47 still connecting), a UDP one at most 249 for any
 * client address, and a session whose local address is its socket's own name does not repeat
 * it. Anything that does not decode to a well-formed record is not ours to resume. Names of
 * the earlier JSON form (left in the fd store by the version before an upgrade) still decode.
 */
import { createHash } from 'node:crypto';

export const HANDOVER_PREFIX = 'sockrelay~';
export const NAME_MAX = 255;
const DIGEST_BYTES = 9;
const TCP = 0x74;
const UDP = 0x75;
/** A TCP client whose backend connection was still being made: its one socket. */
const CONNECTING = 0x63;
/** In place of a local address's length: the relay socket's own address. */
const OWN_ADDRESS = 0xff;
const ADDRESS_MAX = 200;

export type HandoverRecord =
  | {
      kind: 'tcp';
      /** Pairs the two sides of one connection. */
      id: string;
      role: 'client' | 'backend';
      /** Names the listener: listenerKey(label), or its label in the earlier form. */
      listener: string;
      bytesIn: bigint;
      bytesOut: bigint;
    }
  | {
      kind: 'connecting';
      /** Keeps the name unique: a store removes fds by name. */
      id: string;
      listener: string;
      /** When its connect gives up, in ms of CLOCK_MONOTONIC; 0: never. */
      connectDeadlineMs: number;
    }
  | {
      kind: 'udp';
      /** Names the relay as `listener` does. */
      relay: string;
      client: string;
      /** null: the relay socket's own address. */
      local: string | null;
    };

/** What a name carries for a listener or relay label of any length. */
export function listenerKey(label: string): string {
  return `#${createHash('sha256').update(label).digest().subarray(0, DIGEST_BYTES).toString('base64url')}`;
}

/** Whether `key` (from a record) names the listener or relay labelled `label`. */
export const namesLabel = (key: string, label: string): boolean =>
  key === label || key === listenerKey(label);

function digestOf(label: string): Buffer {
  return createHash('sha256').update(label).digest().subarray(0, DIGEST_BYTES);
}

function text(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > ADDRESS_MAX) throw new RangeError(`handover address too long (${bytes.length} bytes)`);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, value));
  return b;
}

/**
 * The record's name. `ownAddress` is the relay socket's own address: a UDP local address equal to
 * it is not written out. Throws RangeError only for a UDP address over 200 bytes (none the kernel
 * reports is).
 */
export function encodeHandoverName(record: HandoverRecord, ownAddress?: string): string {
  let body: Buffer;
  if (record.kind === 'tcp') {
    const id = Buffer.from(record.id, 'utf8');
    body = Buffer.concat([
      Buffer.from([TCP, record.role === 'client' ? 0 : 1, id.length]),
      id,
      digestOf(record.listener),
      u64(record.bytesIn),
      u64(record.bytesOut),
    ]);
  } else if (record.kind === 'connecting') {
    const id = Buffer.from(record.id, 'utf8');
    body = Buffer.concat([
      Buffer.from([CONNECTING, id.length]),
      id,
      digestOf(record.listener),
      u64(BigInt(record.connectDeadlineMs)),
    ]);
  } else {
    const own = record.local === null || record.local === ownAddress;
    body = Buffer.concat([
      Buffer.from([UDP]),
      digestOf(record.relay),
      text(record.client),
      own ? Buffer.from([OWN_ADDRESS]) : text(record.local!),
    ]);
  }
  const name = HANDOVER_PREFIX + body.toString('base64url');
  if (name.length > NAME_MAX) throw new RangeError(`handover name too long (${name.length} > ${NAME_MAX})`);
  return name;
}

class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}
  byte(): number {
    if (this.at >= this.bytes.length) throw new RangeError('short');
    return this.bytes[this.at++]!;
  }
  take(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new RangeError('short');
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  string(n: number): string {
    const raw = this.take(n);
    const value = raw.toString('utf8');
    if (!Buffer.from(value, 'utf8').equals(raw)) throw new RangeError('not UTF-8');
    return value;
  }
  end(): void {
    if (this.at !== this.bytes.length) throw new RangeError('trailing bytes');
  }
}

function decodePacked(bytes: Buffer): HandoverRecord {
  const r = new Reader(bytes);
  const kind = r.byte();
  if (kind === TCP) {
    const role = r.byte();
    if (role > 1) throw new RangeError('role');
    const id = r.string(r.byte());
    const listener = `#${r.take(DIGEST_BYTES).toString('base64url')}`;
    const bytesIn = r.take(8).readBigUInt64BE();
    const bytesOut = r.take(8).readBigUInt64BE();
    r.end();
    return { kind: 'tcp', id, role: role === 0 ? 'client' : 'backend', listener, bytesIn, bytesOut };
  }
  if (kind === CONNECTING) {
    const id = r.string(r.byte());
    const listener = `#${r.take(DIGEST_BYTES).toString('base64url')}`;
    const deadline = r.take(8).readBigUInt64BE();
    if (deadline > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('deadline');
    r.end();
    return { kind: 'connecting', id, listener, connectDeadlineMs: Number(deadline) };
  }
  if (kind !== UDP) throw new RangeError('kind');
  const relay = `#${r.take(DIGEST_BYTES).toString('base64url')}`;
  const client = r.string(r.byte());
  const localLength = r.byte();
  const local = localLength === OWN_ADDRESS ? null : r.string(localLength);
  r.end();
  return { kind: 'udp', relay, client, local };
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length <= NAME_MAX;
const isCount = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v);

/** The earlier form: JSON in base64url, labels written out. */
function decodeJson(wire: Record<string, unknown>): HandoverRecord | null {
  if (wire.k === 'tcp') {
    const { n, r, l, i, o } = wire;
    if (!isString(n) || (r !== 'client' && r !== 'backend') || !isString(l) || !isCount(i) || !isCount(o))
      return null;
    return { kind: 'tcp', id: n, role: r, listener: l, bytesIn: BigInt(i), bytesOut: BigInt(o) };
  }
  if (wire.k === 'udp') {
    const { l, c, a } = wire;
    if (!isString(l) || !isString(c) || !isString(a)) return null;
    return { kind: 'udp', relay: l, client: c, local: a };
  }
  return null;
}

/** The record a name carries; null when it is not one of ours or is malformed. */
export function decodeHandoverName(name: string): HandoverRecord | null {
  if (!name.startsWith(HANDOVER_PREFIX) || name.length > NAME_MAX) return null;
  const bytes = Buffer.from(name.slice(HANDOVER_PREFIX.length), 'base64url');
  if (bytes[0] === TCP || bytes[0] === UDP || bytes[0] === CONNECTING) {
    try {
      return decodePacked(bytes);
    } catch {
      return null;
    }
  }
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null
      ? decodeJson(parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export const isHandoverName = (name: string): boolean => name.startsWith(HANDOVER_PREFIX);

/** The fd a reload's successor finds its predecessor's control channel on (src/reload/). */
export const RELOAD_CONTROL_FD_NAME = 'sockrelay-reload-control';
