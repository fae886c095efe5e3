/**
 * The data plane of one activation, all of it native: one splice engine for
 * the stream listeners, one relaying engine for Accept=yes connections, one UDP
 * relay per datagram socket. This module builds them from the routed sockets
 * and reads them back (status line, stats); nothing here runs per connection.
 */
import type { AddressSpec } from '../config/address.js';
import type { Config } from '../config/config.js';
import { relayAcceptedConnections } from '../engine/accepted-connection.js';
import { adoptingEngine } from '../engine/adopting-engine.js';
import { shareFdBudget } from '../engine/fd-budget.js';
import { SpliceEngine } from '../engine/splice-engine.js';
import type { Engine, EngineBackend, EngineListener, EngineOptions, EngineStats } from '../engine/types.js';
import type { HandoverTargets } from '../handover/handover.js';
import type { ActivitySource } from '../lifecycle/activity-source.js';
import type { Logger } from '../logger.js';
import { logEngineAccess, logRelayAccess } from '../logging/access-log.js';
import type { NativeBinding, NofileLimit } from '../native/binding.js';
import type { RoutedSocket } from '../routing.js';
import { connectFailedMessage, sessionErrorMessage } from '../transparent/failure-text.js';
import type { NativeUdpRelay, UdpRelay } from '../udp/index.js';

/** Native and timer APIs take 32-bit milliseconds. */
const MAX_MS = 2_147_483_647;

export type EngineSettings = Omit<EngineOptions, 'listeners'>;

export interface DataPlane {
  /** The engine of the stream listeners; null without any. */
  engine: Engine | null;
  listeners: EngineListener[];
  /** Accept=yes connections were passed: the process serves them and exits. */
  servesAccepted: boolean;
  relays: UdpRelay[];
  /** Each relay's socket address, parallel to relays. */
  relayAddresses: string[];
  /** Everything the run loop watches for activity. */
  sources: ActivitySource[];
  /** Where the engines' events go. */
  engines: Engine[];
  settings: EngineSettings;
}

export function engineSettings(config: Config, nofile: NofileLimit, logger: Logger): EngineSettings {
  return {
    connectionsMax: config.connectionsMax,
    pipeSize: config.pipeSize,
    connectTimeoutMs: Math.min(config.connectTimeoutMs, MAX_MS),
    connectionIdleTimeoutMs: config.connectionIdleTimeoutMs === Infinity ? 0 : config.connectionIdleTimeoutMs,
    keepaliveMs: config.keepaliveMs === Infinity ? 0 : config.keepaliveMs,
    connectionEvents: logger.isLevelEnabled('debug') || config.accessLog,
    ...(config.sourceLimits ? { sourceLimits: config.sourceLimits } : {}),
    ...(nofile.soft > 0 ? { fdLimit: nofile.soft } : {}),
  };
}

function engineListener(
  { socket, backend, proxyProtocol, transparent }: RoutedSocket,
  backends: Map<AddressSpec, EngineBackend>,
): EngineListener {
  return {
    fd: socket.fd,
    label: socket.label,
    backend: backends.get(backend)!,
    ...(proxyProtocol ? { proxyProtocol } : {}),
    ...(transparent ? { transparent } : {}),
  };
}

function udpRelay(
  Relay: typeof NativeUdpRelay,
  binding: NativeBinding,
  config: Config,
  { socket, backend, proxyProtocol, transparent }: RoutedSocket,
  backends: Map<AddressSpec, EngineBackend>,
  sessionsMax: number,
  id: string,
): UdpRelay {
  return new Relay(binding, {
    fd: socket.fd,
    label: socket.label,
    id,
    backend: backends.get(backend)!,
    sessionTimeoutMs: config.udpSessionTimeoutMs,
    sessionsMax,
    sessionEvents: config.accessLog,
    // routeSockets refuses v1 for datagram sockets: v2 is the only form UDP has.
    ...(proxyProtocol === 'v2' ? { proxyProtocol } : {}),
    ...(transparent ? { transparent } : {}),
    ...(config.sourceLimits ? { sourceLimits: config.sourceLimits } : {}),
  });
}

/** Builds every engine and relay (not started: the run loop starts them). */
export async function buildDataPlane(
  binding: NativeBinding,
  config: Config,
  settings: EngineSettings,
  routed: RoutedSocket[],
  backends: Map<AddressSpec, EngineBackend>,
  /** Tells the sources of a plane built again (a reload that did not happen) from the first's. */
  generation = 0,
): Promise<DataPlane> {
  const id = (name: string): string => (generation === 0 ? name : `${name}#${generation}`);
  const withRole = (role: RoutedSocket['socket']['role']): RoutedSocket[] =>
    routed.filter((r) => r.socket.role === role);
  const datagrams = withRole('datagram');
  // The UDP relay's code loads only where there is a datagram socket.
  const Relay = datagrams.length > 0 ? (await import('../udp/index.js')).NativeUdpRelay : null;
  // One fd budget: UDP sessions and stream connections share what the limit leaves.
  const shares = shareFdBudget({
    fdLimit: settings.fdLimit,
    connectionsMax: routed.length > datagrams.length ? settings.connectionsMax : 0,
    udpSessionsMax: config.udpSessionsMax,
    udpRelays: datagrams.length,
  });
  settings = { ...settings, connectionsMax: Math.max(1, shares.connectionsMax) };
  const plane: DataPlane = {
    engine: null,
    listeners: withRole('stream-listener').map((r) => engineListener(r, backends)),
    servesAccepted: withRole('stream-connection').length > 0,
    relays: datagrams.map((r) =>
      udpRelay(Relay!, binding, config, r, backends, shares.udpSessionsMax, id(`udp:${r.socket.label}`)),
    ),
    relayAddresses: datagrams.map((r) => r.socket.localAddress),
    sources: [],
    engines: [],
    settings,
  };
  if (plane.listeners.length > 0) {
    plane.engine = new SpliceEngine(binding, { ...settings, id: id('tcp'), listeners: plane.listeners });
    plane.engines.push(plane.engine);
    plane.sources.push(plane.engine);
  }
  const accepted = withRole('stream-connection').map((r) => engineListener(r, backends));
  const acceptedEngine = plane.servesAccepted
    ? relayAcceptedConnections(binding, { ...settings, id: 'accepted', listeners: accepted })
    : null;
  if (acceptedEngine) {
    plane.engines.push(acceptedEngine);
    plane.sources.push(acceptedEngine);
  }
  plane.sources.push(...plane.relays);
  return plane;
}

/** Each drainer its own activity-source id, for the run loop's logs. */
let drainersBuilt = 0;

/** What a handover exports from and resumes into; what does not fit drains in a native engine. */
export function handoverTargets(binding: NativeBinding, plane: DataPlane): HandoverTargets {
  return {
    engine: plane.engine,
    listenerLabels: plane.listeners.map((l) => l.label),
    relays: plane.relays,
    relayAddresses: plane.relayAddresses,
    drainer: (connections) => {
      // The fds are adoptingEngine's from this call on, taken or refused: it closes what it cannot take.
      const engine: Engine = adoptingEngine(
        binding,
        { ...plane.settings, id: `drainer#${++drainersBuilt}`, listeners: plane.listeners },
        connections,
      );
      try {
        engine.start();
      } catch (err) {
        engine.destroy(); // resets what it adopted, closing the fds
        throw err;
      }
      return engine;
    },
  };
}

export function logDataPlaneEvents(plane: DataPlane, logger: Logger, accessLog = false): void {
  const backendOf = new Map(plane.listeners.map((l) => [l.label, l.backend.spec]));
  for (const engine of plane.engines) {
    if (accessLog) logEngineAccess(engine, (label) => backendOf.get(label) ?? '', logger);
    engine.on('open', (c) => logger.debug(c, 'connection open'));
    engine.on('close', (c) => logger.debug(c, 'connection closed'));
    engine.on('connectFailed', (f) => logger.warn(f, connectFailedMessage(f)));
    engine.on('backendAddresses', (b) => logger.info(b, 'backend addresses changed'));
    engine.on('backendResolveError', (b) =>
      logger.warn(b, 'backend name not resolved again; addresses kept'),
    );
    engine.on('acceptError', (e) => logger.warn(e, 'accept failed; pausing accept briefly'));
    engine.on('refused', (r) =>
      logger.warn(r, `connections reset: source ${r.source} over its ${limitOf(r.reason)}`),
    );
  }
  for (const relay of plane.relays) {
    if (accessLog) logRelayAccess(relay, logger);
    relay.on('sessionError', (e) => logger.warn(e, sessionErrorMessage(e)));
    relay.on('dropped', (d) =>
      logger.warn(
        d,
        d.source === undefined
          ? 'UDP datagrams dropped'
          : `UDP datagrams dropped: source ${d.source} over its ${limitOf(d.reason)}`,
      ),
    );
    relay.on('socketError', (e) => logger.warn(e, 'UDP socket error'));
  }
}

/** The limit a per-source refusal reason names, for its warning. */
function limitOf(reason: string): string {
  return reason.endsWith('rate') ? '--connection-rate-per-source' : '--connections-per-source';
}

/** Every stream engine's counters as one; null without a stream engine. */
export function streamStats(plane: DataPlane): EngineStats | null {
  if (plane.engines.length === 0) return null;
  const all = plane.engines.map((e) => e.stats());
  return { active: all.reduce((n, s) => n + s.active, 0), listeners: all.flatMap((s) => s.listeners) };
}

/** One line for systemd's STATUS=: what is open and how much has moved. */
export function statusLine(plane: DataPlane): string {
  let open = 0;
  let bytesIn = 0n;
  let bytesOut = 0n;
  for (const l of streamStats(plane)?.listeners ?? []) {
    open += l.active;
    bytesIn += l.bytesIn;
    bytesOut += l.bytesOut;
  }
  let sessions = 0;
  for (const relay of plane.relays) {
    const s = relay.stats();
    sessions += s.sessionsActive;
    bytesIn += s.bytesIn;
    bytesOut += s.bytesOut;
  }
  const udp = plane.relays.length > 0 ? `, ${sessions} UDP ${sessions === 1 ? 'session' : 'sessions'}` : '';
  return `${open} ${open === 1 ? 'connection' : 'connections'}${udp}; ${bytesIn} bytes in, ${bytesOut} bytes out`;
}
