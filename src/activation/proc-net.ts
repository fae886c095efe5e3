/**
 * Classifying a socket fd without the addon, from what Linux shows in
 * /proc/net: the fd's inode (fstat) is listed in tcp, tcp6, udp, udp6 or
 * unix with its state and local address. Slower than getsockopt, but only
 * the fallback uses it, once per inherited fd at start.
 */
import { readFileSync } from 'node:fs';
import type { SocketFamily, SocketType } from '../native/binding.js';

export interface ProcNetSocket {
  type: SocketType;
  family: SocketFamily;
  listening: boolean;
  localAddress: string;
  localPort: number;
}

/** TCP_LISTEN in /proc/net/tcp's st column. */
const TCP_LISTEN = '0A';
/** __SO_ACCEPTCON in /proc/net/unix's Flags column. */
const UNIX_ACCEPTCON = 0x10000;
const UNIX_TYPES: Record<string, SocketType> = { '0001': 'stream', '0002': 'dgram', '0005': 'seqpacket' };

function readTable(name: string): string[][] {
  try {
    return readFileSync(`/proc/net/${name}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/));
  } catch {
    return [];
  }
}

/** `0100007F:1F90` → 127.0.0.1:8080; IPv6 as four little-endian 32-bit words. */
function formatInet(hex: string, v6: boolean): { address: string; port: number } {
  const [addr = '', portHex = '0'] = hex.split(':');
  const port = parseInt(portHex, 16);
  const bytes: number[] = [];
  for (let word = 0; word < addr.length; word += 8) {
    const chunk = addr.slice(word, word + 8);
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(chunk.slice(i, i + 2), 16));
  }
  if (!v6) return { address: `${bytes.join('.')}:${port}`, port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // URL normalizes IPv6 text to its compressed form (RFC 5952), brackets included.
  return { address: `${new URL(`http://[${groups.join(':')}]`).hostname}:${port}`, port };
}

export function classifyFromProcNet(inode: number): ProcNetSocket | null {
  const id = String(inode);
  for (const [table, type, v6] of [
    ['tcp', 'stream', false],
    ['tcp6', 'stream', true],
    ['udp', 'dgram', false],
    ['udp6', 'dgram', true],
  ] as const) {
    const row = readTable(table).find((cols) => cols[9] === id);
    if (!row) continue;
    const { address, port } = formatInet(row[1] ?? '', v6);
    return {
      type,
      family: v6 ? 'inet6' : 'inet',
      listening: type === 'stream' && row[3] === TCP_LISTEN,
      localAddress: address,
      localPort: port,
    };
  }
  const row = readTable('unix').find((cols) => cols[6] === id);
  if (!row) return null;
  return {
    type: UNIX_TYPES[row[4] ?? ''] ?? 'unknown',
    family: 'unix',
    listening: (parseInt(row[3] ?? '0', 16) & UNIX_ACCEPTCON) !== 0,
    localAddress: row[7] ?? '',
    localPort: 0,
  };
}
