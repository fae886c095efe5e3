/** Drives test/helpers/fdstore-supervisor.py: systemd's fd store, emulated, around the built CLI. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LogReader } from './proxy.js';
import { CLI } from './proxy.js';
import { tempDir } from './net.js';

const SCRIPT = fileURLToPath(new URL('./fdstore-supervisor.py', import.meta.url));

export interface SupervisorEvent {
  event: string;
  [key: string]: unknown;
}

export class FdStoreSupervisor {
  readonly events: SupervisorEvent[] = [];
  /** The proxy's stderr (all instances, in order). */
  readonly log = new LogReader();
  ports: number[] = [];
  private readonly child: ChildProcess;
  private readonly dir = tempDir('sockrelay-fdstore-');
  private waiters: Array<{ match: (e: SupervisorEvent) => boolean; resolve: (e: SupervisorEvent) => void }> =
    [];
  private seen = 0;

  constructor(listen: Array<{ type: 'stream' | 'dgram'; name?: string }>, args: string[], fdstore: number) {
    const config = { listen, fdstore, command: [process.execPath, CLI, ...args], dir: this.dir.path };
    this.child = spawn('python3', [SCRIPT, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (out + chunk).split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) this.push(JSON.parse(line) as SupervisorEvent);
    });
    let err = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (err + chunk).split('\n');
      err = lines.pop() ?? '';
      lines.forEach((l) => this.log.push(l));
    });
  }

  private push(event: SupervisorEvent): void {
    this.events.push(event);
    if (event.event === 'listening') this.ports = event.ports as number[];
    this.waiters = this.waiters.filter((w) => (w.match(event) ? (w.resolve(event), false) : true));
  }

  /** The next event (after those already waited for) matching `event`. */
  next(
    event: string,
    timeoutMs = 15_000,
    where: (e: SupervisorEvent) => boolean = () => true,
  ): Promise<SupervisorEvent> {
    const match = (e: SupervisorEvent): boolean => e.event === event && where(e);
    const index = this.events.slice(this.seen).findIndex(match);
    if (index >= 0) {
      this.seen += index + 1;
      return Promise.resolve(this.events[this.seen - 1]!);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no '${event}' within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          this.seen = this.events.indexOf(e) + 1;
          resolve(e);
        },
      });
    });
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      this.send('stop');
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.dir.remove();
  }
}
