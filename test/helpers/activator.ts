/**
 * A small stand-in for systemd's side of socket activation, for the demo and
 * the tests (systemd itself must not be booted here, and systemd-socket-activate
 * does not listen again after its child exits).
 *
 * Like a .socket unit it binds the sockets once and keeps them for its whole
 * life; when a client is waiting (or at once, with `spawn: 'now'`) it starts
 * the command with the sockets at fd 3… and LISTEN_FDS/LISTEN_FDNAMES set, and
 * LISTEN_PID set by the shell to the pid that execs the command, exactly as
 * systemd would. After the command exits it waits for the next client and
 * starts it again, which is what re-activation after an idle exit looks like.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { NativeBinding, SocketAddress } from '../../src/native/binding.js';

export interface ActivatorSocket {
  address: SocketAddress;
  type: 'stream' | 'dgram';
  /** FileDescriptorName=; 'unknown' when omitted. */
  name?: string;
}

export interface ActivatorOptions {
  sockets: ActivatorSocket[];
  command: string[];
  env?: NodeJS.ProcessEnv;
  spawn: 'on-demand' | 'now';
  /** Start again after the command exits (on the next waiting client). */
  respawn: boolean;
}

export interface Activation {
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) when the command ends. */
  exited: Promise<number | string>;
  stderr: string[];
}

/** How often the readiness wait comes back to check whether we were stopped. */
const POLL_SLICE_MS = 200;

export class Activator extends EventEmitter {
  readonly fds: number[];
  private stopped = false;
  private current: Activation | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly native: Pick<NativeBinding, 'listenSocket' | 'waitReadable' | 'close' | 'fdinfo'>,
    private readonly options: ActivatorOptions,
  ) {
    super();
    this.fds = [];
    try {
      for (const s of options.sockets) this.fds.push(native.listenSocket(s.address, { type: s.type }));
    } catch (err) {
      for (const fd of this.fds) native.close(fd);
      throw err;
    }
  }

  /** The port socket `i` is bound to (useful with port 0). */
  port(i: number): number {
    const fd = this.fds[i];
    if (fd === undefined) throw new RangeError(`no socket ${i}`);
    return this.native.fdinfo(fd).localPort;
  }

  get activation(): Activation | null {
    return this.current;
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    let first = true;
    while (!this.stopped) {
      if (!(first && this.options.spawn === 'now')) {
        const ready = await this.native.waitReadable(this.fds, POLL_SLICE_MS);
        if (ready.length === 0) continue;
      }
      first = false;
      if (this.stopped) return;
      const activation = this.spawnOnce();
      this.current = activation;
      this.emit('spawn', activation);
      const code = await activation.exited;
      this.emit('exit', code, activation);
      if (!this.options.respawn) return;
    }
  }

  private spawnOnce(): Activation {
    const names = this.options.sockets.map((s) => s.name ?? 'unknown').join(':');
    const env: NodeJS.ProcessEnv = {
      ...(this.options.env ?? process.env),
      LISTEN_FDS: String(this.fds.length),
      LISTEN_FDNAMES: names,
    };
    delete env.LISTEN_PID;
    const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ exec "$0" "$@"', ...this.options.command], {
      env,
      stdio: ['ignore', 'pipe', 'pipe', ...this.fds],
    });
    const stderr: string[] = [];
    let partial = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        stderr.push(line);
        this.emit('stderr', line);
      }
    });
    child.stdout?.resume();
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    });
    return { child, exited, stderr };
  }

  /** Kill the command (SIGKILL unless told otherwise), stop respawning, close the sockets. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stopped = true;
    const current = this.current;
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill(signal);
      await current.exited;
    }
    await this.loop;
    for (const fd of this.fds.splice(0)) this.native.close(fd);
  }
}
