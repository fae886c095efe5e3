/**
 * Detaching a live Node socket pair for handover without losing a byte.
 *
 * Node offers no public way to stop a socket reading from the kernel: pause()
 * only stops 'data' events, and pipe() resumes its source on every 'drain',
 * which starts kernel reads again. So the pair is taken out of pipe(), each
 * handle's reads are stopped, and `_read` is replaced by a no-op so that
 * draining what Node already buffered cannot start them again. That buffered
 * data (and a pending EOF, as end()) is written to the other socket, and once
 * both write buffers are empty everything in flight sits in the kernel's
 * socket buffers, where the next instance finds it.
 *
 * The sockets are dup'd first, so that whatever Node does to its own fds
 * afterwards (closing them) leaves the connections open.
 */
import type { Socket } from 'node:net';

interface Internals {
  _handle?: { readStop?: () => number; reading?: boolean } | null;
  _read: (size: number) => void;
}

const FLUSH_POLL_MS = 5;

function quiesce(from: Socket, to: Socket): void {
  from.unpipe(to);
  const internals = from as unknown as Internals;
  if (internals._handle?.readStop) {
    internals._handle.reading = false;
    internals._handle.readStop();
  }
  internals._read = () => undefined;
  from.on('data', (chunk: Buffer) => to.write(chunk));
  from.once('end', () => to.end());
  from.resume();
}

function flushed(a: Socket, b: Socket): boolean {
  return a.readableLength === 0 && b.readableLength === 0 && a.writableLength === 0 && b.writableLength === 0;
}

/** Undoes quiesce(): kernel reads start again and the 'data' forwarding relays (without backpressure). */
function resumeReading(from: Socket): void {
  delete (from as unknown as Partial<Internals>)._read;
  from.resume();
}

/**
 * Stops the pair, flushes it, and returns dups of both fds (the caller then
 * destroys the Node sockets). Returns null when a socket is gone or the flush
 * did not finish by `deadline` (a peer not reading); the pair then goes on
 * relaying, to be drained like any other connection.
 */
export async function flushAndDetach(
  client: Socket,
  upstream: Socket,
  fds: { dup(fd: number): number; close(fd: number): void },
  deadline: number,
): Promise<{ clientFd: number; backendFd: number } | null> {
  const fdOf = (s: Socket): number => (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  if (fdOf(client) < 0 || fdOf(upstream) < 0) return null;
  const clientFd = fds.dup(fdOf(client));
  const backendFd = fds.dup(fdOf(upstream));
  quiesce(client, upstream);
  quiesce(upstream, client);
  while (!flushed(client, upstream)) {
    if (Date.now() >= deadline || client.destroyed || upstream.destroyed) {
      fds.close(clientFd);
      fds.close(backendFd);
      if (!client.destroyed) resumeReading(client);
      if (!upstream.destroyed) resumeReading(upstream);
      return null;
    }
    await new Promise((resolve) => setTimeout(resolve, FLUSH_POLL_MS));
  }
  return { clientFd, backendFd };
}
