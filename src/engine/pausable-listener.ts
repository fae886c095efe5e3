/**
 * One listening socket as a Node server that can stop and resume accepting.
 *
 * A net.Server cannot pause accept, so it listens on a dup() of the listening
 * fd and is closed to pause: the socket lives on in the caller's fd with its
 * backlog, where clients wait, and a fresh dup is listened on to resume.
 * Without the addon there is no dup(): the server then keeps listening on the
 * caller's fd (closing it would close that) and the engine holds extra clients
 * itself.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { EngineListener } from './types.js';

export class PausableListener {
  private server: Server | null = null;

  constructor(
    private readonly listener: EngineListener,
    private readonly dup: ((fd: number) => number) | null,
    private readonly onClient: (client: Socket) => void,
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {}

  get canPause(): boolean {
    return this.dup !== null;
  }

  open(): void {
    if (this.server || this.listener.connected) return;
    const given = this.listener.server;
    if (given) {
      // Node's own server (no addon): it accepts with allowHalfOpen off, so set it per socket.
      given.on('connection', (client: Socket) => {
        client.allowHalfOpen = true;
        client.pause();
        this.onClient(client);
      });
      given.on('error', this.onError);
      this.server = given;
      return;
    }
    const fd = this.dup ? this.dup(this.listener.fd) : this.listener.fd;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.onClient);
    server.on('error', this.onError);
    server.listen({ fd });
    this.server = server;
  }

  close(): void {
    if (!this.canPause) return;
    this.server?.close();
    this.server = null;
  }
}
