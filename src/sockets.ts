/**
 * Gathering the sockets to serve: those systemd handed over (LISTEN_FDS) and
 * those --listen asks us to bind ourselves, so the same binary runs by hand.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import {
  adoptInheritedSockets,
  type InheritedSocket,
  type SocketRole,
} from './activation/inherited-socket.js';
import {
  parseListenFds,
  unsetListenEnv,
  type ListenedFd,
  type ListenFdsResult,
} from './activation/listen-fds.js';
import { resolveListenHosts, type ListenSpec } from './activation/listen-hosts.js';
import { isHandoverName, RELOAD_CONTROL_FD_NAME } from './handover/fd-names.js';
import type { AddressSpec } from './config/address.js';
import { StartupError, errnoCode } from './errors.js';
import type { NativeBinding, SocketAddress } from './native/binding.js';

export interface Gathered {
  activation: ListenFdsResult;
  sockets: InheritedSocket[];
  /** Fds a previous instance handed over through the fd store (named by src/handover/fd-names.ts). */
  handedOver: ListenedFd[];
  /** A reload's successor: the fd of the channel to the program that started it. */
  reloadControl: number | null;
  /** Closes what we bound ourselves and still own, and removes our unix socket files. */
  release(): void;
  /** Leave the unix socket files in place at release(): a successor listens on them. */
  keepSocketFiles(): void;
}

export interface GatherOptions {
  env: NodeJS.ProcessEnv;
  pid: number;
  native: NativeBinding;
  listen: ListenSpec[];
  supportedRoles: ReadonlySet<SocketRole>;
}

function socketAddressOf(spec: AddressSpec): SocketAddress {
  if (spec.kind === 'unix') return { family: 'unix', path: spec.path, abstract: spec.abstract };
  return { family: spec.host.includes(':') ? 'inet6' : 'inet', address: spec.host, port: spec.port };
}

/** A socket file left by an earlier run that nobody listens on any more may be replaced. */
async function removeStaleSocketFile(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) return;
  const refused = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => (probe.destroy(), resolve(false)));
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
  if (refused) unlinkSync(path);
}

export async function gatherSockets(options: GatherOptions): Promise<Gathered> {
  const { env, native } = options;
  const activation = parseListenFds(env, { pid: options.pid, pidfdId: native.pidfdId() });
  unsetListenEnv(env);
  const all = activation.ours ? activation.fds : [];
  const reloadControl = all.find((f) => f.name === RELOAD_CONTROL_FD_NAME)?.fd ?? null;
  const listened = all.filter((f) => f.name !== RELOAD_CONTROL_FD_NAME);
  // Handed-over connections are not sockets to serve: they are checked and adopted on their own.
  const handedOver = listened.filter((f) => isHandoverName(f.name));
  const inherited = activation.ours
    ? adoptInheritedSockets(
        listened.filter((f) => !isHandoverName(f.name)),
        native,
        options.supportedRoles,
      )
    : [];

  const bound: InheritedSocket[] = [];
  const filesToRemove: string[] = [];
  let keepFiles = false;
  const release = (): void => {
    // A stream listener stays ours to close (each engine is given a dup of its own); a datagram socket
    // is the UDP relay's from its constructor call on, taken or refused (src/native/binding.ts: ownership).
    // One no relay was given (a start-up that failed first) is closed by the exit.
    for (const s of bound) if (s.role !== 'datagram') native.close(s.fd);
    // Handed to a successor, which listens on them still.
    if (keepFiles) return;
    for (const path of filesToRemove) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to clean.
      }
    }
  };
  try {
    for (const { spec, name } of await resolveListenHosts(options.listen)) {
      if (spec.kind === 'unix' && !spec.abstract) await removeStaleSocketFile(spec.path);
      let fd: number;
      try {
        fd = native.listenSocket(socketAddressOf(spec), { type: spec.datagram ? 'dgram' : 'stream' });
      } catch (err) {
        const where = spec.text === name ? '' : ` on ${spec.text}`;
        throw new StartupError('ERR_LISTEN', `--listen ${name}: cannot listen${where} (${errnoCode(err)})`, {
          cause: err,
        });
      }
      if (spec.kind === 'unix' && !spec.abstract) filesToRemove.push(spec.path);
      const info = native.fdinfo(fd);
      bound.push({
        fd,
        name,
        role: spec.datagram ? 'datagram' : 'stream-listener',
        type: spec.datagram ? 'dgram' : 'stream',
        family: info.family,
        label: info.localAddress || spec.text,
        localAddress: info.localAddress || spec.text,
      });
    }
  } catch (err) {
    // No relay has been given any of them yet.
    for (const s of bound) if (s.role === 'datagram') native.close(s.fd);
    release();
    throw err;
  }
  return {
    activation,
    sockets: [...inherited, ...bound],
    handedOver,
    reloadControl,
    release,
    keepSocketFiles: () => void (keepFiles = true),
  };
}
