/**
 * The native addon's whole surface, declared in one place; `./load.ts` loads it.
 *
 * Argument errors from the addon are thrown like Node's own (native/src/js/args.h): a `TypeError`
 * with code `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE`, and for an fd that is not an integer
 * from 0 a `RangeError` with code `ERR_OUT_OF_RANGE`. System errors are `Error`s carrying
 * `{ code, errno, syscall }`.
 *
 * Ownership: an fd given to the addon (a stream listener, a UDP relay's socket, an adopted
 * connection, client or session) is the addon's from that call on, taken or refused: a refused one
 * is closed by the addon, so the caller never closes it again.
 *
 * Destroy: both relays' destroy() resets what is open, joins the thread and ends the events; stats()
 * still reads the last counters, active counts are 0 and tryStop() is true; start() and adoption
 * throw an Error with code `ERR_RELAY_DESTROYED`.
 */

// Callers take the loader from here, next to the types it returns.
export {
  loadNative,
  nativeAddonPath,
  requireNative,
  NativeAddonMissingError,
  type NativeLoad,
} from './load.js';

export type SocketType = 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'unknown';
export type SocketFamily = 'inet' | 'inet6' | 'unix' | 'vsock' | 'unknown';

/** What getsockopt/getsockname/fstat say about one inherited fd. */
export interface FdInfo {
  /** false when fstat says the fd is not a socket; the other fields are then unset. */
  isSocket: boolean;
  /** 'fifo', 'file', 'char', 'dir', … when not a socket. */
  fileType: string;
  type: SocketType;
  family: SocketFamily;
  /** SO_ACCEPTCONN: a listening socket (false for datagram and Accept=yes connected sockets). */
  listening: boolean;
  /** getsockname, formatted: `127.0.0.1:80`, `[::1]:80`, `/run/x.sock`, `@abstract`, or '' if unnamed. */
  localAddress: string;
  /** Port for inet/inet6, else 0. */
  localPort: number;
  /** Whether the socket has a peer (getpeername succeeds), named or not. */
  connected: boolean;
}

/** A backend address resolved in TypeScript, as the engine connects to it. */
export type SocketAddress =
  | { family: 'inet' | 'inet6'; address: string; port: number }
  | { family: 'unix'; path: string; abstract: boolean };

export interface NofileLimit {
  soft: number;
  hard: number;
}

export interface NativeBinding {
  fdinfo(fd: number): FdInfo;
  /** fcntl: set O_NONBLOCK and FD_CLOEXEC as asked. */
  setFdFlags(fd: number, flags: { nonblock?: boolean; cloexec?: boolean }): void;
  /**
   * SO_LINGER {on, 0}: with `on`, the socket's last close sends a reset instead of a FIN (a socket
   * parked in the fd store, so a drop there never looks like a clean end). Throws a system error.
   */
  setAbortOnClose(fd: number, on: boolean): void;
  /** dup(2) with FD_CLOEXEC. */
  dup(fd: number): number;
  close(fd: number): void;
  /** pipe2(2) with O_CLOEXEC: [read end, write end]. */
  pipe(): [number, number];
  /** Inode number of pidfd_open(getpid()) as a decimal string, or null when pidfs is unavailable. */
  pidfdId(): string | null;
  /** Raise the soft RLIMIT_NOFILE to the hard limit; returns the limits now in force. */
  raiseNofileLimit(): NofileLimit;
  /**
   * Throws a system error (EPERM without CAP_NET_ADMIN or CAP_NET_RAW) when this process may not
   * mark sockets IP_TRANSPARENT; tried on a throwaway socket.
   */
  checkTransparent(): void;
  /**
   * Send one sd_notify datagram to `socketPath` (`$NOTIFY_SOCKET`: a path or `@abstract`),
   * optionally with fds as SCM_RIGHTS. Throws a system error on failure.
   */
  sdNotify(socketPath: string, state: string, fds?: number[]): void;
  /** A bound (and for streams listening) nonblocking, CLOEXEC socket: what systemd would pass us. */
  listenSocket(address: SocketAddress, options: { type: 'stream' | 'dgram'; backlog?: number }): number;
  /** Resolves with the fds that are readable (a client waits), [] after `timeoutMs`. Never reads them. */
  waitReadable(fds: number[], timeoutMs: number): Promise<number[]>;
  RelayEngine: RelayEngineConstructor;
  UdpRelay: UdpRelayConstructor;
}

/* ---------- the native stream relay engine (splice) ---------- */

/**
 * Per-source admission (native/src/core/source-table.h), for both relays: a source is the client's
 * address cut to prefix4 / prefix6 bits (an IPv4-mapped client counts as IPv4; unix clients are
 * never limited). A client over a limit is refused at once: reset (stream), its datagram dropped (UDP).
 */
export interface SourceLimits {
  /** Open connections (UDP sessions) per source at most; 0 or absent: no limit. */
  perSource?: number;
  /** New connections (sessions) per source: rateCount per rateSpanMs, a token bucket; 0 or absent: none. */
  rateCount?: number;
  rateSpanMs?: number;
  /** Bits of an IPv4 address that make its source (default 32). */
  prefix4?: number;
  /** Bits of an IPv6 address that make its source (default 64). */
  prefix6?: number;
}

export interface RelayListener {
  /**
   * A listening stream socket, the engine's from the constructor call on (as every fd given to the
   * addon), closed at destroy(): give it a dup of a socket others share. null: never accepts.
   */
  fd: number | null;
  /** Index into RelayEngineOptions.backends. */
  backend: number;
  /** Send this PROXY protocol header on each backend connection, before any client byte. */
  proxyProtocol?: 'v1' | 'v2';
  /** Bind each backend connection to the client's address and port (IP_TRANSPARENT). */
  transparent?: boolean;
}

export interface RelayEngineOptions {
  listeners: RelayListener[];
  /** Each backend is the list of addresses to try in order. */
  backends: SocketAddress[][];
  connectionsMax: number;
  /** Bytes; the kernel rounds up to a page multiple. */
  pipeSize: number;
  /** Splice pipes open at once, pooled ones included (src/engine/fd-budget.ts); absent: two per connection. */
  pipesMax?: number;
  /** Give up connecting to a backend after this many ms (0 = one attempt through each address, no retry). */
  connectTimeoutMs: number;
  /** Close a relaying connection after this many ms without a byte either way; 0 or absent: never. */
  connectionIdleTimeoutMs?: number;
  /** TCP keepalive on both sockets as Node's setKeepAlive(true, ms) sets it; 0 or absent: off. */
  keepaliveMs?: number;
  /** Emit 'open'/'close' events per connection (only when debug logging is on). */
  connectionEvents: boolean;
  /** Absent: no per-source limits. */
  sourceLimits?: SourceLimits;
  /** Bucket bounds (seconds, ascending) of the accept→connected histogram; absent: none kept. */
  connectBounds?: readonly number[];
  /** Bucket bounds (seconds, ascending) of the accept→close histogram; absent: none kept. */
  durationBounds?: readonly number[];
}

/**
 * A histogram kept by the engine in native memory and read at scrape time, so no JavaScript runs per
 * connection to feed metrics.
 */
export interface HistogramSnapshot {
  /** Upper bounds in seconds, ascending, without +Inf. */
  bounds: readonly number[];
  /** Observations per bucket (not cumulative); one more entry than bounds: the last is +Inf. */
  counts: number[];
  /** Sum of observations, seconds. */
  sum: number;
  count: number;
}

/** Counters per listener, read on demand from native memory. */
export interface RelayListenerStats {
  /** client → backend */
  bytesIn: bigint;
  /** backend → client */
  bytesOut: bigint;
  accepted: number;
  active: number;
  failedRefused: number;
  failedTimeout: number;
  failedOther: number;
  /** Clients reset at accept: their source held its limit of connections, or exceeded its rate. */
  refusedPerSource: number;
  refusedPerSourceRate: number;
  /** Accept to a connected backend; present when RelayEngineOptions.connectBounds was given. */
  connectSeconds?: HistogramSnapshot;
  /** Accept to close; present when RelayEngineOptions.durationBounds was given. */
  durationSeconds?: HistogramSnapshot;
}

export interface RelayStats {
  active: number;
  listeners: RelayListenerStats[];
  /** Splice pipes of the whole process holding bytes of a connection, and kept empty for the next. */
  pipesInUse: number;
  pipesPooled: number;
}

/**
 * Why a connection or session ended, in both relays' words (native/src/core/close-reason.h): the
 * access log writes them as they are.
 */
export type CloseReason =
  | 'eof'
  | 'reset-by-client'
  | 'reset-by-backend'
  | 'connect-failed'
  | 'idle-timeout'
  | 'backend-error'
  | 'shutdown'
  | 'error'
  /** Reset at accept, never relayed: its source held its share of connections, or opened them too fast. */
  | 'refused-per-source'
  | 'refused-per-source-rate';

/**
 * Batched through one thread-safe function. 'connect-failed', 'accept-error' and 'connection-error'
 * are coalesced per listener to at most one a second; `count` says how many they stand for.
 * No event arrives after destroy().
 */
export type RelayEvent =
  | { type: 'busy' }
  | { type: 'idle' }
  | { type: 'open'; id: number; listener: number; peer: string }
  | {
      type: 'close';
      id: number;
      listener: number;
      bytesIn: number;
      bytesOut: number;
      reason: CloseReason;
      /** From accept to close. */
      durationMs: number;
    }
  | { type: 'connect-failed'; listener: number; code: string; errno: number; syscall: string; count: number }
  | { type: 'accept-error'; listener: number; code: string; errno: number; syscall: string; count: number }
  /** Clients reset over their source's limits; `source` is the latest one's (`198.51.100.7`, `2001:db8::/64`). */
  | {
      type: 'refused';
      listener: number;
      reason: 'refused-per-source' | 'refused-per-source-rate';
      source: string;
      count: number;
    }
  /** A connection closed by an error that is neither transient nor a peer's disconnect (e.g. EMFILE on pipe2). */
  | {
      type: 'connection-error';
      listener: number;
      code: string;
      errno: number;
      syscall: string;
      count: number;
    };

export interface RelayEngineNative {
  start(): void;
  stats(): RelayStats;
  /** Open connections now (connecting ones included); cheaper than stats().active. */
  active(): number;
  /** Atomically: if no connection is open, stop accepting and return true; else false. */
  tryStop(): boolean;
  /** Accept again after a tryStop() that returned true, unless stopAccepting() came since. */
  resumeAfterTryStop(): void;
  /**
   * Stop accepting new connections (already-accepted ones carry on). Called before start(), for
   * good: the engine then only relays the connections it adopted (the drainer of a handover).
   */
  stopAccepting(): void;
  /** Close every open connection (reset), join the thread. Idempotent. */
  destroy(): void;
  /**
   * Replace the addresses of backend `index` (of options.backends), before or after start(): the
   * next connect attempts use them; attempts under way finish. Throws TypeError on bad input.
   */
  setBackendAddresses(index: number, addresses: SocketAddress[]): void;
  /**
   * Handover: stop accepting and reading, flush the pipes, and detach every relaying connection
   * whose pipes empty within `timeoutMs`, the others stay; a connection still connecting to its
   * backend is detached at once, as its client socket alone. The fds are dup'd and belong to the
   * caller. Throws EBUSY while another export runs.
   */
  exportConnections(timeoutMs: number): Promise<HandoverConnection[]>;
  /**
   * Before start(): relay a connection a previous instance handed over, as an open connection of
   * `listener`, its counters carrying on from bytesIn/bytesOut. With a null backendFd it was still
   * connecting: the engine connects it (PROXY header included) and gives up at connectDeadlineMs.
   * The engine owns the fds from here, also when it throws (EALREADY once started, or an argument
   * error): it has closed them then.
   */
  adoptConnection(
    listener: number,
    clientFd: number,
    backendFd: number | null,
    bytesIn: bigint,
    bytesOut: bigint,
    connectDeadlineMs?: number,
  ): void;
  /**
   * Before start(): a client socket accepted elsewhere (an Accept=yes connection) takes `listener`'s
   * accept path: the engine connects its backend (every address, retries until the deadline) and
   * sends the listener's PROXY header. The engine owns the fd from here, also when it throws
   * (EALREADY once started, or an argument error): it has closed it then.
   */
  adoptClient(listener: number, clientFd: number): void;
}

/**
 * A live connection handed from one instance to the next through systemd's fd store. Only the two
 * sockets travel: before export the engine stops reading and flushes everything it holds into the
 * kernel's socket buffers, so no byte is in user space or in a pipe. Half-close state needs no
 * record: a socket that delivered EOF delivers it again, and a repeated shutdown(SHUT_WR) is
 * harmless, so the next instance rediscovers it.
 */
export interface HandoverConnection {
  /** Index into the engine's listeners of the one that accepted it. */
  listener: number;
  /** Connected sockets, dup'd: they belong to the caller after export. */
  clientFd: number;
  /** null: the connection was still connecting to its backend; the next instance connects it. */
  backendFd: number | null;
  /** Bytes already forwarded, so the connection's counters carry on. */
  bytesIn: bigint;
  bytesOut: bigint;
  /**
   * Still connecting: when its connect gives up, in ms of CLOCK_MONOTONIC (the clock of
   * process.hrtime(), one for every process of the host); 0: never.
   */
  connectDeadlineMs: number;
}

export interface RelayEngineConstructor {
  new (options: RelayEngineOptions, onEvents: (events: RelayEvent[]) => void): RelayEngineNative;
}

/* ---------- the native UDP relay (datagram sessions) ---------- */

/** Why a datagram was not forwarded. */
export type UdpDropReason =
  | 'sessions-max'
  | 'backend-error'
  | 'unbound-client'
  | 'truncated'
  | 'send-failed'
  /** With the PROXY header in front, more than the backend's family can carry in one datagram. */
  | 'too-large'
  /** From the backend, the relay's own socket or one of its upstream sockets: a session would loop. */
  | 'would-loop'
  /** A new client whose source holds its sessions per source already (SourceLimits.perSource). */
  | 'per-source'
  /** A new client whose source opens sessions faster than SourceLimits allows. */
  | 'per-source-rate';

export interface UdpRelayNativeOptions {
  /**
   * The inherited datagram socket (inet, inet6 or unix). The relay owns it from the constructor
   * call on: a constructor that throws has closed it.
   */
  fd: number;
  /** Addresses tried in order when a session opens; the first that connect()s is used. */
  backend: SocketAddress[];
  /** Idle time (no datagram either way) after which a session ends; 0 or Infinity: never. */
  sessionTimeoutMs: number;
  sessionsMax: number;
  /**
   * 'v2': prepend a PROXY protocol v2 header (client, and the destination from IP_PKTINFO) to every
   * client → backend datagram. Absent: none.
   */
  proxyProtocol?: 'v2';
  /** Emit 'session-closed' per ended session (only for the access log). */
  sessionEvents?: boolean;
  /** Bind each session's upstream socket to the client's address and port (IP_TRANSPARENT). */
  transparent?: boolean;
  /** Absent: no per-source limits. */
  sourceLimits?: SourceLimits;
}

/** Counters read on demand from native memory. */
export interface UdpRelayNativeStats {
  /** client → backend, forwarded */
  datagramsIn: number;
  bytesIn: bigint;
  /** backend → client, forwarded */
  datagramsOut: number;
  bytesOut: bigint;
  sessionsActive: number;
  sessionsTotal: number;
  sessionsTimedOut: number;
  dropped: Record<UdpDropReason, number>;
}

/** Warnings come at most once a second per kind; `count` is how many happened since the last one. */
export type UdpRelayEvent =
  | { type: 'busy' }
  | { type: 'idle' }
  | { type: 'session-error'; client: string; code: string; errno: number; syscall: string; count: number }
  /** `source`: for the per-source reasons, the first source refused in this burst. */
  | { type: 'dropped'; reason: UdpDropReason; count: number; source?: string }
  | { type: 'socket-error'; code: string; errno: number; syscall: string; count: number }
  /** Only with sessionEvents. `reason`: 'idle-timeout' or 'backend-error'. */
  | {
      type: 'session-closed';
      client: string;
      bytesIn: number;
      bytesOut: number;
      durationMs: number;
      reason: CloseReason;
    };

/**
 * A UDP session handed from one instance to the next through systemd's fd store. Only the upstream
 * socket travels: its source port is how the backend knows the client, so keeping it keeps the
 * backend's view of the client unchanged.
 */
export interface HandoverSession {
  /** The session's socket, connected to the backend. */
  upstreamFd: number;
  /**
   * The client's address: `1.2.3.4:5`, `[::1]:5`, `/path` or `@name`; a link-local IPv6 client
   * carries its interface index, `[fe80::1%2]:5`, or replies could not reach it.
   */
  client: string;
  /**
   * The local address the client sent to (what replies leave from), with the socket's port:
   * `127.0.0.2:53`; '' when not known (unix sockets, IPv6 multicast).
   */
  local: string;
}

/** An entry adoptSessions() refused: `index` into its argument. */
export interface UdpAdoptRefusalNative {
  index: number;
  /** TypeError (code ERR_INVALID_ARG_VALUE), a system error, or code ERR_UDP_SESSIONS_MAX. */
  error: Error & { code: string; errno?: number; syscall?: string };
}

export interface UdpRelayNative {
  start(): void;
  stats(): UdpRelayNativeStats;
  activeSessions(): number;
  /** Atomically: if no session is open, stop reading the socket and return true; else false. */
  tryStop(): boolean;
  /** Read again after a tryStop() that returned true, unless stopAccepting() came since. */
  resumeAfterTryStop(): void;
  /** Stop reading the socket (datagrams stay queued); open sessions still carry replies. */
  stopAccepting(): void;
  /** Close every session and the socket, join the thread. Idempotent. */
  destroy(): void;
  /**
   * Stop reading the socket, then detach every session, most recently active first: a CLOEXEC dup of
   * its upstream socket each, the relay's own copy closed. A session whose socket cannot be dup'd stays
   * (one 'session-error' with syscall 'fcntl' says so). Done on the relay's thread between two of its
   * rounds, as a stream export is; [] once destroyed. Throws EBUSY while another export runs.
   */
  exportSessions(): Promise<HandoverSession[]>;
  /**
   * Before start(): take over every fd given (nonblocking, CLOEXEC) as a session's upstream socket.
   * Refused entries are returned and their fds closed, unless not open, the relay's own socket, or
   * given twice. Throws when called after start() or destroy().
   */
  adoptSessions(sessions: HandoverSession[]): UdpAdoptRefusalNative[];
}

export interface UdpRelayConstructor {
  new (options: UdpRelayNativeOptions, onEvents: (events: UdpRelayEvent[]) => void): UdpRelayNative;
}
