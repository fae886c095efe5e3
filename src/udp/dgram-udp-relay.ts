/**
 * The UDP relay in pure TypeScript on `node:dgram`, for when the addon is absent.
 * Same sessions, limits and events as the native relay, at the cost of
 * JavaScript per datagram, and with two things `dgram` cannot do:
 * - no IP_PKTINFO: replies leave from the address the routing table picks, which
 *   on a wildcard-bound socket of a multi-homed host may not be the address the
 *   client sent to (clients that match replies by source then drop them);
 * - no unix datagram sockets, neither inherited nor as the backend.
 *
 * Sessions live in a Map in least-recently-active order (a touch re-inserts),
 * so one timer aimed at the oldest session expires them all.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';

import type { SocketAddress } from '../native/binding.js';
import { ConfigError } from '../errors.js';
import { dgramHandle } from './dgram-handle.js';
import { adoptUpstream, formatClient, type FdOps, type HandoverError } from './dgram-handover.js';
import {
  emptyUdpStats,
  type HandoverRefusal,
  type HandoverSession,
  type UdpDropReason,
  type UdpRelay,
  type UdpRelayEvents,
  type UdpRelayOptions,
  type UdpStats,
} from './types.js';
import { datagramHeader, withHeader } from './proxy-header.js';
import { WarningLimiter } from './warning-limiter.js';

type InetAddress = Extract<SocketAddress, { family: 'inet' | 'inet6' }>;

interface Session {
  key: string;
  client: { address: string; port: number };
  socket: dgram.Socket;
  backend: number;
  /** The upstream socket's family: what bounds a datagram with a PROXY header. */
  family: InetAddress['family'];
  connected: boolean;
  /** Datagrams that arrived while connect() was under way. */
  queue: Buffer[];
  lastActive: number;
  closed: boolean;
  /** The PROXY v2 header every datagram of this session starts with; null without --proxy-protocol. */
  header: Buffer | null;
}

/** Datagrams held per session while its upstream socket connects; more are dropped. */
const CONNECT_QUEUE_MAX = 64;

export class DgramUdpRelay extends EventEmitter implements UdpRelay {
  readonly name = 'dgram' as const;
  readonly label: string;
  private readonly backends: InetAddress[];
  private readonly sessions = new Map<string, Session>();
  private readonly counters: UdpStats;
  private readonly sessionErrors: WarningLimiter<{ client: string; code: string }>;
  private readonly drops: WarningLimiter<UdpDropReason>;
  private socket: dgram.Socket | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private accepting = true;
  private destroyed = false;

  /** `fds`: the addon's dup and setFdFlags when present, without which sessions cannot be exported. */
  constructor(
    private readonly options: UdpRelayOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly fds: FdOps | null = null,
  ) {
    super();
    this.label = options.label;
    if (options.family === 'unix') {
      throw new ConfigError(
        'ERR_UDP_UNIX_NEEDS_NATIVE',
        `${options.label}: unix datagram sockets need the addon`,
      );
    }
    this.backends = options.backend.addresses.filter((a): a is InetAddress => a.family !== 'unix');
    if (this.backends.length === 0) {
      throw new ConfigError(
        'ERR_UDP_UNIX_NEEDS_NATIVE',
        `${options.label}: unix datagram backend ${options.backend.spec} needs the addon`,
      );
    }
    this.counters = emptyUdpStats(options.label);
    const label = this.label;
    const backend = options.backend.spec;
    this.sessionErrors = new WarningLimiter(({ client, code }, count) =>
      this.emit('sessionError', { label, backend, client, code, count }),
    );
    this.drops = new WarningLimiter((reason, count) => this.emit('dropped', { label, reason, count }));
  }

  override on<E extends keyof UdpRelayEvents>(event: E, listener: UdpRelayEvents[E]): this {
    return super.on(event, listener);
  }

  start(): void {
    if (this.socket || this.destroyed) return;
    const socket = dgram.createSocket(this.options.family === 'inet6' ? 'udp6' : 'udp4');
    socket.on('message', (datagram, rinfo) => this.fromClient(datagram, rinfo));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.emit('socketError', {
        label: this.label,
        code: err.code ?? 'UNKNOWN',
        syscall: err.syscall ?? '',
        count: 1,
      }),
    );
    socket.bind({ fd: this.options.fd });
    this.socket = socket;
    for (const session of this.sessions.values()) {
      // Adopted before the socket was there to name the destination of their PROXY headers.
      if (this.options.proxyProtocol) session.header = datagramHeader(session.client, socket.address());
      dgramHandle(session.socket)?.recvStart?.();
    }
  }

  stats(): UdpStats {
    return { ...this.counters, dropped: { ...this.counters.dropped }, sessionsActive: this.sessions.size };
  }

  activeSessions(): number {
    return this.sessions.size;
  }

  tryStop(): boolean {
    if (this.sessions.size > 0) return false;
    this.stopAccepting();
    return true;
  }

  stopAccepting(): void {
    if (!this.accepting) return;
    this.accepting = false;
    // dgram has no public pause; its handle's recvStop() leaves later datagrams queued in the kernel for
    // the next instance. Without it they are read and ignored.
    dgramHandle(this.socket)?.recvStop?.();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.accepting = false;
    for (const session of this.sessions.values()) this.closeSession(session, false);
    if (this.expiry) clearTimeout(this.expiry);
    this.sessionErrors.clear();
    this.drops.clear();
    if (this.socket) this.socket.close();
    else closeSync(this.options.fd);
  }

  exportSessions(): HandoverSession[] {
    this.stopAccepting();
    const exported: HandoverSession[] = [];
    if (!this.fds || this.destroyed) return exported;
    // Most recently active first, as the native relay lists them.
    for (const session of [...this.sessions.values()].reverse()) {
      const fd = dgramHandle(session.socket)?.fd;
      // Still connecting: it stays, to end as before.
      if (!session.connected || typeof fd !== 'number' || fd < 0) continue;
      let copy: number;
      try {
        copy = this.fds.dup(fd);
      } catch (err) {
        this.sessionErrors.note(errCode(err), { client: formatClient(session.client), code: errCode(err) });
        continue;
      }
      exported.push({ upstreamFd: copy, client: formatClient(session.client), local: '' });
      this.closeSession(session, false);
    }
    if (exported.length > 0 && this.sessions.size === 0) this.emit('idle');
    return exported;
  }

  adoptSessions(sessions: HandoverSession[]): HandoverRefusal[] {
    if (this.destroyed) throw new Error(`${this.label}: adoptSessions() after destroy()`);
    if (this.socket) throw new Error(`${this.label}: adoptSessions() must come before start()`);
    const taken = new Set<number>([this.options.fd]);
    for (const session of this.sessions.values()) taken.add(dgramHandle(session.socket)?.fd ?? -1);
    const wasIdle = this.sessions.size === 0;
    const refused: HandoverRefusal[] = [];
    for (const entry of sessions) {
      const error = this.adopt(entry, taken);
      if (error) refused.push({ session: entry, error });
    }
    if (wasIdle && this.sessions.size > 0) {
      this.armExpiry();
      this.emit('busy');
    }
    return refused;
  }

  /** One adoption; null when adopted. */
  private adopt(entry: HandoverSession, taken: Set<number>): HandoverError | null {
    const adopted = adoptUpstream(entry, {
      family: this.options.family === 'inet6' ? 'inet6' : 'inet',
      socketType: this.backends[0]!.family === 'inet6' ? 'udp6' : 'udp4',
      fds: this.fds,
      taken,
      has: (key) => this.sessions.has(key),
      full: () => this.sessions.size >= this.options.sessionsMax,
    });
    if (adopted instanceof Error) return adopted;
    const session: Session = {
      ...adopted,
      backend: 0,
      connected: true,
      queue: [],
      lastActive: this.now(),
      closed: false,
      header: null,
    };
    session.socket.on('message', (reply) => this.toClient(session, reply));
    session.socket.on('error', (err: NodeJS.ErrnoException) => this.sessionFailed(session, err));
    this.sessions.set(session.key, session);
    return null;
  }

  private fromClient(datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.accepting) return;
    const key = `${rinfo.address}|${rinfo.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      if (this.sessions.size >= this.options.sessionsMax) return this.drop('sessions-max');
      session = this.openSession(key, { address: rinfo.address, port: rinfo.port });
    }
    this.touch(session);
    if (session.connected) this.toBackend(session, datagram);
    else if (session.queue.length < CONNECT_QUEUE_MAX) session.queue.push(datagram);
    else this.drop('send-failed');
  }

  private openSession(key: string, client: Session['client']): Session {
    const session: Session = {
      key,
      client,
      socket: null as unknown as dgram.Socket,
      backend: 0,
      family: this.backends[0]!.family,
      connected: false,
      queue: [],
      lastActive: this.now(),
      closed: false,
      header:
        this.options.proxyProtocol && this.socket ? datagramHeader(client, this.socket.address()) : null,
    };
    this.connect(session);
    this.sessions.set(key, session);
    this.counters.sessionsTotal++;
    if (this.sessions.size === 1) {
      this.armExpiry();
      this.emit('busy');
    }
    return session;
  }

  private connect(session: Session): void {
    const backend = this.backends[session.backend]!;
    const socket = dgram.createSocket(backend.family === 'inet6' ? 'udp6' : 'udp4');
    session.socket = socket;
    session.family = backend.family;
    socket.on('message', (reply) => this.toClient(session, reply));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (session.closed || socket !== session.socket) return;
      // Before connect() completed, the next address may do better.
      if (!session.connected && session.backend + 1 < this.backends.length) {
        socket.close();
        session.backend++;
        this.connect(session);
        return;
      }
      this.sessionFailed(session, err);
    });
    socket.connect(backend.port, backend.address, () => {
      if (session.closed) return;
      session.connected = true;
      for (const datagram of session.queue.splice(0)) this.toBackend(session, datagram);
    });
  }

  private toBackend(session: Session, datagram: Buffer): void {
    const payload = session.header ? withHeader(session.header, datagram, session.family) : datagram;
    if (!payload) return this.drop('too-large');
    session.socket.send(payload, (err) => {
      if (!err) {
        this.counters.datagramsIn++;
        this.counters.bytesIn += BigInt(datagram.length);
      } else if (isBufferFull(err)) {
        this.drop('send-failed');
      } else {
        // ECONNREFUSED here is the ICMP answer to an earlier datagram: the backend is not listening.
        this.drop('backend-error');
        this.sessionFailed(session, err);
      }
    });
  }

  private toClient(session: Session, reply: Buffer): void {
    const socket = this.socket;
    if (session.closed || !socket || this.destroyed) return;
    this.touch(session);
    socket.send(reply, session.client.port, session.client.address, (err) => {
      if (err) return this.drop('send-failed');
      this.counters.datagramsOut++;
      this.counters.bytesOut += BigInt(reply.length);
    });
  }

  private sessionFailed(session: Session, err: NodeJS.ErrnoException): void {
    if (session.closed) return;
    const client = formatClient(session.client);
    this.sessionErrors.note(err.code ?? 'UNKNOWN', { client, code: err.code ?? 'UNKNOWN' });
    if (session.queue.length > 0) this.drop('backend-error', session.queue.length);
    this.closeSession(session, true);
  }

  private touch(session: Session): void {
    session.lastActive = this.now();
    // Re-inserting keeps the Map in least-recently-active order.
    this.sessions.delete(session.key);
    this.sessions.set(session.key, session);
  }

  private closeSession(session: Session, announce: boolean): void {
    if (session.closed) return;
    session.closed = true;
    session.queue.length = 0;
    session.socket.close();
    this.sessions.delete(session.key);
    if (announce && this.sessions.size === 0) this.emit('idle');
  }

  private armExpiry(): void {
    const timeout = this.options.sessionTimeoutMs;
    if (this.expiry || !Number.isFinite(timeout) || timeout <= 0) return;
    const oldest = this.sessions.values().next().value as Session | undefined;
    if (!oldest) return;
    const wait = Math.max(0, oldest.lastActive + timeout - this.now());
    this.expiry = setTimeout(() => {
      this.expiry = null;
      this.expire();
    }, wait);
    this.expiry.unref();
  }

  private expire(): void {
    const deadline = this.now() - this.options.sessionTimeoutMs;
    // Bounded by the number of sessions; the first one still fresh ends the sweep.
    for (const session of this.sessions.values()) {
      if (session.lastActive > deadline) break;
      this.counters.sessionsTimedOut++;
      this.closeSession(session, true);
    }
    this.armExpiry();
  }

  private drop(reason: UdpDropReason, count = 1): void {
    this.counters.dropped[reason] += count;
    this.drops.note(reason, reason, count);
  }
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? 'UNKNOWN';
}

function isBufferFull(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK' || err.code === 'ENOBUFS';
}
