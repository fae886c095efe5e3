/**
 * Names for handed-over fds in systemd's fd store.
 *
 * A name is all the next instance learns about an fd, so it carries what is
 * needed to resume: which connection and which side of it, the listener it
 * belongs to, the bytes already forwarded; for a UDP session, the client and
 * local addresses that key it. systemd allows printable ASCII without ':' up
 * to 255 characters, and addresses are full of ':', so the record is JSON in
 * base64url behind a fixed prefix. Anything that does not decode to a
 * well-formed record is not ours to resume.
 */
export const HANDOVER_PREFIX = 'sockrelay~';
const NAME_MAX = 255;

export type HandoverRecord =
  | {
      kind: 'tcp';
      /** Pairs the two sides of one connection. */
      id: string;
      role: 'client' | 'backend';
      /** The listener's label (fd name or local address): stable across restarts. */
      listener: string;
      bytesIn: bigint;
      bytesOut: bigint;
    }
  | { kind: 'udp'; relay: string; client: string; local: string };

export function encodeHandoverName(record: HandoverRecord): string {
  const wire =
    record.kind === 'tcp'
      ? {
          k: 'tcp',
          n: record.id,
          r: record.role,
          l: record.listener,
          i: String(record.bytesIn),
          o: String(record.bytesOut),
        }
      : { k: 'udp', l: record.relay, c: record.client, a: record.local };
  const name = HANDOVER_PREFIX + Buffer.from(JSON.stringify(wire)).toString('base64url');
  if (name.length > NAME_MAX) throw new RangeError(`handover name too long (${name.length} > ${NAME_MAX})`);
  return name;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length <= NAME_MAX;
const isCount = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v);

/** The record a name carries; null when it is not one of ours or is malformed. */
export function decodeHandoverName(name: string): HandoverRecord | null {
  if (!name.startsWith(HANDOVER_PREFIX)) return null;
  let wire: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(
      Buffer.from(name.slice(HANDOVER_PREFIX.length), 'base64url').toString('utf8'),
    );
    if (typeof parsed !== 'object' || parsed === null) return null;
    wire = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
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

export const isHandoverName = (name: string): boolean => name.startsWith(HANDOVER_PREFIX);
