/**
 * The channel between a reloading program and the successor it started: one end of a unix
 * socket pair on each side, passed as an fd (never in the environment), carrying one short line
 * per message. Its end is news too: a side that goes away, for whatever reason, closes it.
 *
 *   successor → predecessor   `ready <pid>`   configured, about to take the connections over
 *                             `serving`       the connections are relayed here now
 *   predecessor → successor   `go` | `abort`  answer to ready: only after `go` is anything adopted
 *                             `stop <SIGNAL>` a stop the predecessor heard, for the successor
 *                             `reload`        a SIGHUP the predecessor heard after handing over
 *                             `main`          systemd now sees the successor as the main process
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

const LINE_MAX = 256;

export interface ChannelEvents {
  line: (words: string[]) => void;
  end: () => void;
}

export class ControlChannel extends EventEmitter {
  private buffered = '';
  private ended = false;

  constructor(private readonly socket: Socket) {
    super();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const lines = (this.buffered + chunk).split('\n');
      this.buffered = lines.pop() ?? '';
      // A peer that floods without newlines is not ours: end the channel.
      if (this.buffered.length > LINE_MAX) return void socket.destroy();
      for (const line of lines) this.emit('line', line.trim().split(/\s+/));
    });
    const end = (): void => {
      if (this.ended) return;
      this.ended = true;
      this.emit('end');
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => socket.destroy());
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  send(...words: string[]): void {
    if (!this.ended) this.socket.write(`${words.join(' ')}\n`);
  }

  /** Whether the channel alone keeps the event loop alive. */
  hold(on: boolean): void {
    if (on) this.socket.ref();
    else this.socket.unref();
  }

  close(): void {
    this.socket.destroy();
  }

  override on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): this {
    return super.on(event, listener);
  }
  override once<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): this {
    return super.once(event, listener);
  }
}
