/** A UDP echo backend and a request/response client on loopback, for tests of the UDP paths. */
import dgram from 'node:dgram';
import { once } from 'node:events';

export interface UdpEcho {
  socket: dgram.Socket;
  port: number;
  /** Source ports the backend saw: one per upstream socket (per session). */
  sources: Set<number>;
  /** Datagrams received so far. */
  readonly received: number;
  close(): void;
}

/**
 * Echoes each datagram back; in `tag` mode prefixed with `<source port>|`, so a reply names the
 * upstream socket it went through (and cannot be mistaken for the relay reflecting the request).
 */
export async function echoBackend(
  type: 'udp4' | 'udp6',
  address: string,
  mode: 'tag' | 'plain',
  port = 0,
): Promise<UdpEcho> {
  const socket = dgram.createSocket(type);
  const sources = new Set<number>();
  let received = 0;
  socket.on('message', (data, from) => {
    received++;
    sources.add(from.port);
    const reply = mode === 'tag' ? Buffer.concat([Buffer.from(`${from.port}|`), data]) : data;
    socket.send(reply, from.port, from.address);
  });
  socket.bind(port, address);
  const timer = setTimeout(() => socket.emit('error', new Error('backend bind timed out')), 2000);
  await once(socket, 'listening');
  clearTimeout(timer);
  let closed = false;
  return {
    socket,
    port: socket.address().port,
    sources,
    get received() {
      return received;
    },
    close: (): void => {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

/** Sends `text` from `client` and resolves with the first reply, as text; rejects after `timeoutMs`. */
export function ask(
  client: dgram.Socket,
  text: string,
  port: number,
  host = '127.0.0.1',
  timeoutMs = 5000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no reply to '${text}' within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.once('message', (m) => {
      clearTimeout(timer);
      resolve(m.toString());
    });
    client.send(text, port, host);
  });
}
