/** source-peer.mjs processes (clients from a chosen source address, echo backends), here or in a namespace. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Peer } from '../transparent/peers.js';

export type { Peer };

const PEER = fileURLToPath(new URL('./source-peer.mjs', import.meta.url));

/** `node source-peer.mjs ARGS`, in namespace `ns` when given. */
export function sourcePeer(ns: string | null, ...args: Array<string | number>): Peer {
  const command = [process.execPath, PEER, ...args.map(String)];
  const [file, ...rest] = ns ? ['ip', 'netns', 'exec', ns, ...command] : command;
  return new Peer(spawn(file!, rest, { stdio: ['pipe', 'pipe', 'pipe'] }));
}
