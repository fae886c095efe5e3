/**
 * The successor's side of a reload (control-channel.ts): it says when it is configured and about
 * to adopt, adopts only on `go`, says when it serves, and from then on takes the stops and
 * reloads its predecessor hears, and the word that systemd now sees it as the main process.
 */
import { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import { ControlChannel } from './control-channel.js';

export interface PredecessorRoutes {
  stop(signal: NodeJS.Signals): void;
  reload(): void;
  becameMain(): void;
}

export class Predecessor {
  private readonly channel: ControlChannel;
  private routes: PredecessorRoutes | null = null;
  private held: string[][] = [];

  constructor(fd: number, logger: Logger) {
    this.channel = new ControlChannel(new Socket({ fd, readable: true, writable: true }));
    this.channel.on('line', (words) => {
      if (words[0] === 'go' || words[0] === 'abort') return;
      if (this.routes) this.deliver(words, this.routes);
      else this.held.push(words);
    });
    this.channel.on('end', () => logger.debug('the previous program has gone'));
  }

  /** true on `go`; false when the predecessor called it off or went away. */
  mayAdopt(pid: number): Promise<boolean> {
    this.channel.hold(true);
    return new Promise((resolve) => {
      const onLine = (words: string[]): void => {
        if (words[0] !== 'go' && words[0] !== 'abort') return;
        this.channel.off('line', onLine);
        resolve(words[0] === 'go');
      };
      this.channel.on('line', onLine);
      this.channel.once('end', () => resolve(false));
      this.channel.send('ready', String(pid));
    }).finally(() => this.channel.hold(false)) as Promise<boolean>;
  }

  serving(routes: PredecessorRoutes): void {
    this.routes = routes;
    this.channel.send('serving');
    for (const words of this.held.splice(0)) this.deliver(words, routes);
  }

  close(): void {
    this.channel.close();
  }

  private deliver(words: string[], routes: PredecessorRoutes): void {
    if (words[0] === 'stop' && (words[1] === 'SIGTERM' || words[1] === 'SIGINT')) routes.stop(words[1]);
    else if (words[0] === 'reload') routes.reload();
    else if (words[0] === 'main') routes.becameMain();
  }
}
