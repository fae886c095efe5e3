/**
 * Relaying one connected pair with Node streams: the stream engine's data path.
 *
 * Both sockets are half-open capable, so pipe() turns a FIN from one side
 * into end() (shutdown(SHUT_WR)) on the other and the other direction goes
 * on. An error on one side resets the other, so a reset propagates as a reset.
 */
import type { Socket } from 'node:net';

export interface RelayOptions {
  /** TCP keepalive idle time on both sockets; 0 = off. */
  keepaliveMs: number;
  /** Close the pair after this long without a byte either way; 0 = never. */
  idleTimeoutMs: number;
  /** Written to the backend before any client byte (a PROXY protocol header). */
  header: Buffer | null;
}

export interface RelayCallbacks {
  /** Why the pair is ending, when it is not a plain close: 'backend ECONNRESET', 'idle timeout'. */
  setReason(reason: string): void;
  /** Both sockets are closed. */
  closed(): void;
}

export function relayPair(client: Socket, upstream: Socket, options: RelayOptions, on: RelayCallbacks): void {
  if (options.keepaliveMs > 0) {
    // A dead peer on either side must not keep the other side (and an on-demand backend) alive.
    // Below 1 s Node sets TCP_KEEPIDLE=0, which the kernel refuses (leaving its 2 h default).
    const idleMs = Math.max(options.keepaliveMs, 1000);
    client.setKeepAlive(true, idleMs);
    upstream.setKeepAlive(true, idleMs);
  }
  if (options.idleTimeoutMs > 0) {
    // The client socket sees every byte of both directions (read one way, written the other).
    client.setTimeout(options.idleTimeoutMs, () => {
      on.setReason('idle timeout');
      client.destroy();
      upstream.destroy();
    });
  }
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    on.setReason(`backend ${err.code ?? 'error'}`);
    client.resetAndDestroy();
  });
  let open = 2;
  const onClose = (): void => {
    if (--open === 0) on.closed();
  };
  upstream.once('close', onClose);
  client.once('close', onClose);
  if (options.header) upstream.write(options.header);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
