/**
 * Zero-downtime restarts: live connections and UDP sessions go into systemd's
 * fd store at SIGTERM and come back, named, with the next instance's sockets.
 *
 * Handing over: the engine stops, flushes into the kernel and gives up each
 * connection's two sockets; each goes into the store as two named fds or not
 * at all, set to reset their peer should the store ever close them (a stop, an
 * overflow): a cut stream never ends in a clean FIN. Adoption clears that.
 * What does not fit, or what the store refuses, is relayed to its end by a
 * drainer: a native engine that adopts them and accepts nothing. What did not
 * flush never left its engine. Either way it is drained as before, never dropped. UDP sessions go in as their upstream
 * socket; one that cannot simply ends, and its client's next datagram opens a
 * new one.
 *
 * Resuming: fds whose names are ours are taken out before routing, grouped
 * into connections, checked, and adopted before anything new is accepted.
 * Every one of them is then removed from the store, adopted or not, so a
 * crash later cannot resurrect a connection that has since ended.
 */
import { handedFds, type Engine, type HandoverConnection } from '../engine/types.js';
import type { Logger } from '../logger.js';
import type { NativeBinding } from '../native/binding.js';
import type { HandoverSession, UdpRelay } from '../udp/types.js';
import { decodeHandoverName, encodeHandoverName, namesLabel, type HandoverRecord } from './fd-names.js';

/**
 * Where handed-over fds go: systemd's fd store (fd-store.ts), or the list a reload passes to its
 * successor (src/reload/). `store` keeps its own copy: the caller closes `fd` afterwards.
 */
export interface FdSink {
  /** Most fds it takes; null when unknown (nothing is stored then). */
  readonly capacity: number | null;
  store(name: string, fd: number): void;
  remove(name: string): void;
}

export interface HandoverTargets {
  /** The engine of the stream listeners, with their labels by index. */
  engine: Engine | null;
  listenerLabels: string[];
  relays: UdpRelay[];
  /** Each relay's socket address (parallel to relays): a session's local address when it is that. */
  relayAddresses: string[];
  /**
   * A started engine relaying `connections` (those that did not fit in the store) to their end and
   * accepting nothing: the listener engine cannot take them back, since adoption precedes start.
   * When it throws, it has closed their fds.
   */
  drainer(connections: HandoverConnection[]): Engine;
}

export interface HandoverResult {
  storedConnections: number;
  storedSessions: number;
  /** Connections left to drain because they did not fit in the store, or the store refused them. */
  overflow: number;
  /** Set when the store refused an fd (its errno code): everything after that was drained instead. */
  storeError?: string;
  /** The engine now relaying those, for the caller to drain; null when all fit. */
  drainer: Engine | null;
}

export async function handOver(
  targets: HandoverTargets,
  store: FdSink,
  native: Pick<NativeBinding, 'close' | 'setAbortOnClose'>,
  flushTimeoutMs: number,
): Promise<HandoverResult> {
  let room = store.capacity ?? 0;
  const result: HandoverResult = { storedConnections: 0, storedSessions: 0, overflow: 0, drainer: null };
  /**
   * Stores every (name, fd) or none: on a refusal the ones already stored are removed again, and
   * the store is not tried any more (a notify socket that refused once will refuse the rest).
   * Our copies are closed only once systemd holds its own.
   */
  const storeAll = (entries: Array<[string, number]>): boolean => {
    if (result.storeError !== undefined) return false;
    const stored: string[] = [];
    try {
      for (const [name, fd] of entries) {
        store.store(name, fd);
        stored.push(name);
      }
    } catch (err) {
      result.storeError = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
      for (const name of stored) {
        try {
          store.remove(name);
        } catch {
          // The store is gone: nothing of ours is left in it either.
        }
      }
      return false;
    }
    for (const [, fd] of entries) native.close(fd);
    return true;
  };

  /** Best effort: a socket that refuses it travels all the same. The drainer's adoption clears it. */
  const abortOnClose = (fds: number[]): void => {
    for (const fd of fds) {
      try {
        native.setAbortOnClose(fd, true);
      } catch {
        // Refused: this socket travels without the safety net.
      }
    }
  };

  // Every exported connection is either stored or relayed to its end by the drainer: never dropped.
  // Nothing after the export may throw with connections in hand, so what can fail (a name) is
  // known before: TCP names are of fixed size, whatever the listener's label.
  const listenerLabel = (i: number): string => targets.listenerLabels[i] ?? String(i);
  const exported = targets.engine ? await targets.engine.exportConnections(flushTimeoutMs) : [];
  const unplaced: HandoverConnection[] = [];
  exported.forEach((c, i) => {
    const fds = handedFds(c);
    if (room < fds.length || result.storeError !== undefined) return void unplaced.push(c);
    const id = `${process.pid}.${i}`;
    const listener = listenerLabel(c.listener);
    const entries: Array<[string, number]> = [];
    if (c.backendFd === null) {
      // A client still connecting travels alone; the next instance connects it by the same deadline.
      const record = { kind: 'connecting', id, listener, connectDeadlineMs: c.connectDeadlineMs } as const;
      entries.push([encodeHandoverName(record), c.clientFd]);
    } else {
      const tcp = { kind: 'tcp', id, listener, bytesIn: c.bytesIn, bytesOut: c.bytesOut } as const;
      entries.push(
        [encodeHandoverName({ ...tcp, role: 'client' }), c.clientFd],
        [encodeHandoverName({ ...tcp, role: 'backend' }), c.backendFd],
      );
    }
    abortOnClose(fds);
    const placed = storeAll(entries);
    if (!placed) return void unplaced.push(c);
    room -= fds.length;
    result.storedConnections++;
  });
  if (unplaced.length > 0) result.drainer = targets.drainer(unplaced);
  result.overflow = unplaced.length;

  // A UDP session that cannot be stored just ends: its client's next datagram opens a new one.
  // Each relay stops accepting as its export begins; the exports run on their threads side by side.
  const sessions = await Promise.all(targets.relays.map((relay) => relay.exportSessions()));
  for (const [r, relay] of targets.relays.entries()) {
    for (const s of sessions[r]!) {
      const record: HandoverRecord = { kind: 'udp', relay: relay.label, client: s.client, local: s.local };
      let name: string | null = null;
      try {
        name = encodeHandoverName(record, targets.relayAddresses[r]);
      } catch {
        // An address no kernel reports: this session ends, the others go on.
      }
      if (name !== null && room >= 1 && storeAll([[name, s.upstreamFd]])) {
        room--;
        result.storedSessions++;
      } else {
        native.close(s.upstreamFd);
      }
    }
  }
  return result;
}

export interface ResumeReport {
  connections: number;
  sessions: number;
  /** Fds closed because they were malformed, incomplete, or name a listener that is gone. */
  rejected: Array<{ fd: number; why: string }>;
}

/**
 * Adopts handed-over fds (those whose names are ours). Call before the engine
 * and relays start. `store`, when there is one, has every such name removed.
 */
export function resumeHandedOver(
  fds: Array<{ fd: number; name: string }>,
  targets: HandoverTargets,
  native: Pick<NativeBinding, 'close' | 'fdinfo' | 'setFdFlags'>,
  store: Pick<FdSink, 'remove'> | null,
  logger: Logger,
): ResumeReport {
  const report: ResumeReport = { connections: 0, sessions: 0, rejected: [] };
  const reject = (fd: number, why: string): void => {
    native.close(fd);
    report.rejected.push({ fd, why });
  };
  const pairs = new Map<
    string,
    { listener: string; bytesIn: bigint; bytesOut: bigint; client?: number; backend?: number }
  >();
  const sessions = new Map<UdpRelay, HandoverSession[]>();
  const connections: HandoverConnection[] = [];
  const listenerOf = (key: string): number =>
    targets.engine ? targets.listenerLabels.findIndex((label) => namesLabel(key, label)) : -1;

  /** What an fd must be to stand for its record: a connected socket of the right type. */
  const unfit = (fd: number, type: 'stream' | 'dgram'): string | null => {
    try {
      const info = native.fdinfo(fd);
      if (!info.isSocket) return `a ${info.fileType}, not a socket`;
      if (info.type !== type || info.listening)
        return `a ${info.type} socket where a connected ${type} socket belongs`;
      native.setFdFlags(fd, { nonblock: true, cloexec: true });
      return null;
    } catch (err) {
      return `cannot be inspected (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  };

  for (const { fd, name } of fds) {
    const record = decodeHandoverName(name);
    const why = record ? unfit(fd, record.kind === 'udp' ? 'dgram' : 'stream') : null;
    if (!record) {
      reject(fd, 'malformed name');
    } else if (why) {
      reject(fd, why);
    } else if (record.kind === 'udp') {
      const at = targets.relays.findIndex((r) => namesLabel(record.relay, r.label));
      const relay = targets.relays[at];
      const local = record.local ?? targets.relayAddresses[at];
      if (!relay || local === undefined) reject(fd, `no UDP socket '${record.relay}' any more`);
      else
        sessions.set(relay, [
          ...(sessions.get(relay) ?? []),
          { upstreamFd: fd, client: record.client, local },
        ]);
    } else if (record.kind === 'connecting') {
      const listener = listenerOf(record.listener);
      if (listener < 0) reject(fd, `no listener '${record.listener}' any more`);
      else
        connections.push({
          listener,
          clientFd: fd,
          backendFd: null,
          bytesIn: 0n,
          bytesOut: 0n,
          connectDeadlineMs: record.connectDeadlineMs,
        });
    } else {
      const pair = pairs.get(record.id) ?? {
        listener: record.listener,
        bytesIn: record.bytesIn,
        bytesOut: record.bytesOut,
      };
      if (pair[record.role] !== undefined) reject(fd, `connection ${record.id} has two ${record.role} fds`);
      else pair[record.role] = fd;
      pairs.set(record.id, pair);
    }
  }

  for (const [id, pair] of pairs) {
    const listener = listenerOf(pair.listener);
    const incomplete = pair.client === undefined || pair.backend === undefined;
    if (incomplete || listener < 0) {
      const why = incomplete ? `connection ${id} is incomplete` : `no listener '${pair.listener}' any more`;
      for (const fd of [pair.client, pair.backend]) if (fd !== undefined) reject(fd, why);
      continue;
    }
    connections.push({
      listener,
      clientFd: pair.client!,
      backendFd: pair.backend!,
      bytesIn: pair.bytesIn,
      bytesOut: pair.bytesOut,
      connectDeadlineMs: 0,
    });
  }
  if (connections.length > 0) targets.engine?.adoptConnections(connections);
  report.connections = connections.length;
  for (const [relay, list] of sessions) {
    // The relay closes the fds of the entries it refuses: record them, do not close them again.
    const refused = relay.adoptSessions(list);
    report.sessions += list.length - refused.length;
    for (const { session, error } of refused)
      report.rejected.push({ fd: session.upstreamFd, why: error.message });
  }

  if (store) {
    for (const name of new Set(fds.map((f) => f.name))) {
      try {
        store.remove(name);
      } catch (err) {
        logger.warn(
          { code: (err as NodeJS.ErrnoException).code },
          'could not remove a handed-over fd from the fd store',
        );
      }
    }
  }
  return report;
}
