/**
 * The contract of the UDP relay (native-udp-relay.ts: an epoll thread in the
 * addon, recvmmsg/sendmmsg, no JavaScript per datagram), which the UDP tests
 * hold it to.
 *
 * A datagram socket has no connections, so the relay makes sessions: the first
 * datagram from a client address opens an upstream socket connected to the
 * backend, and the backend's replies on it go back to that client through the
 * inherited socket. Its semantics:
 * - datagram boundaries are kept; up to 65,507 bytes pass intact;
 * - a session ends after `sessionTimeoutMs` without a datagram either way;
 * - at `sessionsMax` sessions, datagrams from new clients are dropped and
 *   counted (`sessions-max`) while open sessions carry on;
 * - the backend refusing (ICMP port unreachable → ECONNREFUSED on the
 *   upstream socket) ends that session with a `sessionError`, never the relay;
 * - `busy` fires when the first session opens and `idle` when the last one
 *   ends, so an idle-exit policy can count sessions as activity;
 * - `tryStop()` stops reading atomically with session creation: a datagram is
 *   either in a session or still queued in the kernel for the next instance;
 * - the relay owns `fd` from construction on and closes it in `destroy()`;
 * - with `proxyProtocol: 'v2'`, every datagram to the backend starts with a
 *   PROXY v2 header naming the client and the address it sent to; a datagram
 *   that no longer fits the backend's largest datagram (65,507 bytes over
 *   IPv4, 65,527 over IPv6) with the header is dropped as `too-large`, never
 *   cut. Counters count payload bytes, not header bytes.
 *
 * - replies leave from the address the client sent to (IP_PKTINFO /
 *   IPV6_RECVPKTINFO), even on a wildcard-bound socket of a multi-homed host.
 */
import type { ActivitySource } from '../lifecycle/activity-source.js';
import type {
  CloseReason,
  HandoverSession,
  SocketAddress,
  SourceLimits,
  UdpDropReason,
  UdpRelayNativeStats,
} from '../native/binding.js';

export type { HandoverSession, UdpDropReason } from '../native/binding.js';

export const UDP_DROP_REASONS: readonly UdpDropReason[] = [
  'sessions-max',
  'backend-error',
  'unbound-client',
  'truncated',
  'send-failed',
  'too-large',
  'would-loop',
  'per-source',
  'per-source-rate',
];

export interface UdpBackend {
  /** As the user wrote it, for logs. */
  spec: string;
  /** Resolved addresses, tried in order when a session opens. */
  addresses: SocketAddress[];
}

export interface UdpRelayOptions {
  /** The inherited datagram socket. The relay owns it from construction on. */
  fd: number;
  /** For logs and metrics: fd name or local address. */
  label: string;
  /** As an activity source (default `udp:<label>`). */
  id?: string;
  backend: UdpBackend;
  /**
   * A session ends after this long without a datagram either way (CLI `--udp-session-timeout`,
   * default 30 s); 0 or Infinity: never.
   */
  sessionTimeoutMs: number;
  /** Most sessions open at once (default 4096). */
  sessionsMax: number;
  /** Prepend a PROXY protocol v2 header to every datagram to the backend (v1 has no UDP form). */
  proxyProtocol?: 'v2';
  /** Emit `sessionClosed` per ended session (for the access log; off: no per-session event). */
  sessionEvents?: boolean;
  /** Bind each session's upstream socket to the client's own address and port (IP_TRANSPARENT). */
  transparent?: boolean;
  /** Per-source session and rate limits; absent: none. */
  sourceLimits?: SourceLimits;
}

export interface UdpStats extends UdpRelayNativeStats {
  label: string;
}

export function emptyUdpStats(label: string): UdpStats {
  return {
    label,
    datagramsIn: 0,
    bytesIn: 0n,
    datagramsOut: 0,
    bytesOut: 0n,
    sessionsActive: 0,
    sessionsTotal: 0,
    sessionsTimedOut: 0,
    dropped: Object.fromEntries(UDP_DROP_REASONS.map((reason) => [reason, 0])) as Record<
      UdpDropReason,
      number
    >,
  };
}

/** Warnings are limited to one a second per kind; `count` says how many they stand for. */
export interface UdpRelayEvents {
  busy: () => void;
  idle: () => void;
  sessionError: (info: {
    label: string;
    backend: string;
    client: string;
    code: string;
    count: number;
    /** Set on a transparent relay, whose failures have causes of their own (src/transparent/). */
    transparent?: true;
  }) => void;
  /** `source`: for the per-source reasons, the first source refused in this burst. */
  dropped: (info: { label: string; reason: UdpDropReason; count: number; source?: string }) => void;
  socketError: (info: { label: string; code: string; syscall: string; count: number }) => void;
  /** Only with `sessionEvents`; `reason` is 'idle-timeout' or 'backend-error'. */
  sessionClosed: (info: {
    label: string;
    backend: string;
    client: string;
    bytesIn: number;
    bytesOut: number;
    durationMs: number;
    reason: CloseReason;
  }) => void;
}

/** An entry adoptSessions() did not resume, and why. */
export interface HandoverRefusal {
  session: HandoverSession;
  /**
   * `TypeError` with code `ERR_INVALID_ARG_VALUE` for a malformed entry (bad address text, a client
   * of another family than the socket or given twice, an fd that is not a datagram socket, is the
   * relay's own or was given twice); a system error `{ code, errno, syscall }` (EBADF for an fd not
   * open, ENOTCONN from getpeername for an unconnected socket); code `ERR_UDP_SESSIONS_MAX` past
   * `sessionsMax`.
   */
  error: Error & { code: string; errno?: number; syscall?: string };
}

/** As an activity source its id is `udp:<label>`, and active() counts its sessions. */
export interface UdpRelay extends ActivitySource {
  readonly label: string;
  start(): void;
  stats(): UdpStats;
  /** Number of open sessions now. */
  activeSessions(): number;
  /** Atomically stop reading the socket if no session is open; true when stopped. */
  tryStop(): boolean;
  /** Read again after a tryStop() that returned true (another source refused to stop). */
  resumeAfterTryStop(): void;
  /** Stop reading the socket; later datagrams stay queued, open sessions still carry replies. */
  stopAccepting(): void;
  /** End every session, close the socket, release resources. Idempotent. */
  destroy(): void;
  /**
   * Handover: after stopAccepting(), detach every open session and return its upstream socket
   * (dup'd: the caller owns it) with the addresses that key it, so the next instance routes the
   * backend's replies to the same client from the same local address. The relay keeps nothing.
   *
   * Stops accepting first if the caller has not. Sessions are listed most recently active first.
   * Detached sessions end silently: `sessionsActive` drops, `idle` fires when none is left, no
   * `sessionError`. A session that cannot leave stays and ends as before: one whose socket cannot
   * be dup'd (EMFILE: one `sessionError` with that code).
   */
  exportSessions(): Promise<HandoverSession[]>;
  /**
   * Resume sessions a previous instance handed over; call before start() (throws after it). Each is
   * keyed by its client as if that client had just sent: its timeout starts now, its next datagram
   * goes to the same upstream socket, and the backend's replies go to the client from `local`.
   *
   * Every fd given belongs to the relay afterwards, kept until its session ends or closed at once
   * when refused, except an fd that is not the caller's to give: not open, the relay's own socket,
   * or already given for another session. Refused entries do not stop the others; they are
   * returned. Past `sessionsMax`, the later entries are refused (`ERR_UDP_SESSIONS_MAX`), so with
   * export's order the most recently active survive; they are not counted as dropped datagrams,
   * since no datagram was. Adopted sessions count in `sessionsActive` but not in `sessionsTotal`,
   * which the previous instance already counted them in. `busy` fires if any was adopted.
   * A session keeps its backend: one adopted from an instance configured with another backend
   * talks to the old one until it ends.
   */
  adoptSessions(sessions: HandoverSession[]): HandoverRefusal[];
  on<E extends keyof UdpRelayEvents>(event: E, listener: UdpRelayEvents[E]): this;
}
