/**
 * A configuration error must not take a socket-activated service's .socket down. Exiting at once
 * leaves the client that triggered the start in the backlog, so systemd starts the service again
 * for it, and again, until the start limit fails the .socket too. Instead, with listeners passed
 * in, sockrelay closes what waits on them (the client sees its connection end at once, not a
 * hang), keeps doing so for a while, and only then exits with its config/usage code, which the
 * units list in RestartPreventExitStatus=. Lingering spaces the starts that later clients cause
 * far enough apart that systemd's default start limit (5 in 10 s) is never reached.
 */
import { createServer, type Server } from 'node:net';
import { parseListenFds } from '../activation/listen-fds.js';

/** Long enough that at most four starts fit in systemd's default 10 s start-limit interval. */
export const LINGER_MS = 3000;

function closeWhatArrives(fd: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.resetAndDestroy());
    // Not a listening stream socket (a datagram socket, say): nothing waits on it to answer.
    server.once('error', () => resolve(null));
    try {
      server.listen({ fd }, () => resolve(server));
    } catch {
      resolve(null);
    }
  });
}

/** When sockets were passed in: answers whoever waits on them for `lingerMs`, then returns. */
export async function answerWaitingClients(
  env: NodeJS.ProcessEnv,
  pid: number,
  lingerMs = LINGER_MS,
): Promise<void> {
  let fds: number[];
  try {
    const activation = parseListenFds(env, { pid, pidfdId: null });
    fds = activation.ours ? activation.fds.map((f) => f.fd) : [];
  } catch {
    return; // The activation variables are the error: nothing trustworthy to answer on.
  }
  if (fds.length === 0) return;
  const servers = (await Promise.all(fds.map(closeWhatArrives))).filter((s) => s !== null);
  await new Promise((resolve) => setTimeout(resolve, lingerMs));
  for (const server of servers) server.close();
}
