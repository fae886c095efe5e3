/** Processes inside the topology's namespaces: the peers (peer.mjs) and sockrelay itself. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { underSocketActivate, type RunningProcess } from '../helpers/proxy.js';

const PEER = fileURLToPath(new URL('./peer.mjs', import.meta.url));

export interface PeerEvent {
  event: string;
  [key: string]: unknown;
}

/** A peer.mjs process and the JSON lines it reported. */
export class Peer {
  readonly events: PeerEvent[] = [];
  readonly exited: Promise<number | string>;
  private waiters: Array<() => void> = [];
  private stderr = '';

  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.events.push(JSON.parse(line) as PeerEvent);
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    );
    void this.exited.then(() => this.waiters.splice(0).forEach((wake) => wake()));
  }

  /** The `n`th event named `name` (1-based), once reported; rejects when the peer exits or time runs out. */
  async next(name: string, n = 1, timeoutMs = 10_000): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.filter((e) => e.event === name)[n - 1];
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline)
        throw new Error(
          `peer reported no '${name}' #${n}; events ${JSON.stringify(this.events)} ${this.stderr}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now() + 1);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** A command line for the session roles (`send N`, `end`). */
  tell(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function peer(ns: string, role: string, host: string, port: number, bytes = 0): Peer {
  return new Peer(
    spawn('ip', ['netns', 'exec', ns, process.execPath, PEER, role, host, String(port), String(bytes)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
}

/** A backend peer, resolved once it listens. */
export async function backendPeer(
  ns: string,
  role: 'tcp-backend' | 'udp-backend',
  host: string,
  port: number,
) {
  const backend = peer(ns, role, host, port);
  await backend.next('listening');
  return backend;
}

/** sockrelay under systemd-socket-activate (the real activation protocol) in namespace `ns`. */
export function proxyIn(
  ns: string,
  activateArgs: string[],
  args: string[],
  wrapper: string[] = [],
): Promise<RunningProcess> {
  return underSocketActivate(activateArgs, args, ['ip', 'netns', 'exec', ns, ...wrapper]);
}
