/**
 * The validated configuration. The CLI hands over raw strings; everything the
 * daemon needs is checked here, so a bad value stops sockrelay before it
 * touches a socket, with one line naming the flag.
 */
import { UsageError } from '../errors.js';
import { LOG_LEVELS, type LogLevel } from '../logger.js';
import { PROXY_PROTOCOL_VERSIONS, type ProxyProtocolVersion } from '../proxy-protocol/version.js';
import { parseListen, type ListenSpec } from './listen.js';
import { parseAddress, type AddressSpec } from './address.js';
import {
  KEEPALIVE_LIMIT,
  TIMER_LIMIT,
  pipeMaxSize,
  pipeSizeWithin,
  spanWithin,
  type SpanLimit,
} from './limits.js';
import { parseTimeSpan } from './time-span.js';
import { buildSourceLimits, type RawSourceLimits } from './source-limits.js';
import type { SourceLimits } from '../native/binding.js';

export interface Config {
  /** The positional BACKEND; null when every socket is routed by name. */
  backend: AddressSpec | null;
  /** --route NAME=BACKEND: fds named NAME (LISTEN_FDNAMES) go to BACKEND. */
  routes: Map<string, AddressSpec>;
  /** --proxy-protocol: the PROXY header every route sends, unless its own option says otherwise. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** --route NAME=BACKEND,proxy-protocol=…: only the routes that set it (null: none). */
  routeProxyProtocol: Map<string, ProxyProtocolVersion | null>;
  /** --transparent: backend sockets bound to the client's own address, unless a route says otherwise. */
  transparent: boolean;
  /** --route NAME=BACKEND,transparent=yes|no: only the routes that set it. */
  routeTransparent: Map<string, boolean>;
  listen: ListenSpec[];
  connectionsMax: number;
  exitIdleTimeMs: number;
  shutdownTimeoutMs: number;
  connectTimeoutMs: number;
  /** Close a connection with no bytes either way for this long; Infinity: never. */
  connectionIdleTimeoutMs: number;
  /** TCP keepalive idle time on both sockets; Infinity: keepalive off. */
  keepaliveMs: number;
  udpSessionTimeoutMs: number;
  udpSessionsMax: number;
  /** --connections-per-source and --connection-rate-per-source, for both relays; null: off. */
  sourceLimits: SourceLimits | null;
  pipeSize: number;
  logLevel: LogLevel;
  /** Serve GET /metrics here (an fd named `metrics` works too). */
  metricsListen: AddressSpec | null;
  /** node_exporter textfile: written every 15 s and at exit, read back at start. */
  metricsTextfile: string | null;
  /** --access-log: one info line per finished connection or UDP session. */
  accessLog: boolean;
}

export interface RawOptions extends RawSourceLimits {
  route: string[];
  proxyProtocol: string;
  connectionIdleTimeout: string;
  keepalive: string;
  udpSessionTimeout: string;
  udpSessionsMax: string;
  connectionsMax: string;
  exitIdleTime: string;
  shutdownTimeout: string;
  connectTimeout: string;
  listen: string[];
  pipeSize: string;
  logLevel: string;
  metricsListen?: string;
  metricsTextfile?: string;
  accessLog?: boolean;
  transparent?: boolean;
}

export const DEFAULTS = {
  proxyProtocol: 'none',
  connectionsMax: '256',
  exitIdleTime: 'infinity',
  shutdownTimeout: '10s',
  connectTimeout: '30s',
  connectionIdleTimeout: 'infinity',
  keepalive: '5min',
  udpSessionTimeout: '30s',
  udpSessionsMax: '4096',
  sourcePrefix4: '32',
  sourcePrefix6: '64',
  pipeSize: '256K',
  logLevel: 'info',
} as const;

export function parsePositiveInt(text: string, flag: string, max = 2 ** 31 - 1): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError('ERR_BAD_NUMBER', `${flag}: '${text}' is not a whole number from 1 to ${max}`);
  }
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `262144`, `256K`, `1M` (powers of 1024, as systemd's size options). */
export function parseSize(text: string, flag: string): number {
  const match = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
  const factor = match ? SIZE_UNITS[(match[2] ?? '').toUpperCase()] : undefined;
  if (!match || factor === undefined || Number(match[1]) === 0) {
    throw new UsageError('ERR_BAD_SIZE', `${flag}: '${text}' is not a size (examples: 65536, 256K, 1M)`);
  }
  return Number(match[1]) * factor;
}

function oneOf<T extends string>(text: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError('ERR_BAD_CHOICE', `${flag}: '${text}' is not one of ${choices.join(', ')}`);
  }
  return text as T;
}

/** Names follow systemd's FileDescriptorName= rules: printable ASCII, no ':', at most 255 characters. */
const FD_NAME = /^[\x21-\x39\x3b-\x7e]{1,255}$/;

const PROXY_PROTOCOL_CHOICES = ['none', ...PROXY_PROTOCOL_VERSIONS] as const;

function proxyProtocolOf(text: string, flag: string): ProxyProtocolVersion | null {
  const choice = oneOf(text, PROXY_PROTOCOL_CHOICES, flag);
  return choice === 'none' ? null : choice;
}

interface Routes {
  routes: Map<string, AddressSpec>;
  proxyProtocol: Map<string, ProxyProtocolVersion | null>;
  transparent: Map<string, boolean>;
}

/** The `,KEY=VALUE` forms a route takes, as its errors list them. */
const ROUTE_FORMS = 'proxy-protocol=v1|v2|none, transparent=yes|no';

/** What each `,KEY=VALUE` of a route sets. */
const ROUTE_OPTIONS: Record<string, (parsed: Routes, name: string, value: string) => void> = {
  'proxy-protocol': (parsed, name, value) =>
    parsed.proxyProtocol.set(name, proxyProtocolOf(value, `--route ${name}: proxy-protocol`)),
  transparent: (parsed, name, value) =>
    parsed.transparent.set(name, oneOf(value, ['yes', 'no'], `--route ${name}: transparent`) === 'yes'),
};

/** Options a route may carry after its backend, as `,KEY=VALUE`. */
const ROUTE_OPTION = /,([a-z][a-z-]*)=([^,=]*)$/;

/**
 * `NAME=BACKEND[,proxy-protocol=v1|v2|none][,transparent=yes|no]`. Options are peeled off the end, so a backend
 * (a unix path may contain commas) only loses a trailing `,key=value` that is an option.
 */
function parseRoutes(texts: string[]): Routes {
  const parsed: Routes = { routes: new Map(), proxyProtocol: new Map(), transparent: new Map() };
  for (const text of texts) {
    const eq = text.indexOf('=');
    const name = text.slice(0, eq);
    if (eq < 0 || !FD_NAME.test(name)) {
      throw new UsageError('ERR_BAD_ROUTE', `--route: '${text}' is not NAME=BACKEND with NAME an fd name`);
    }
    if (parsed.routes.has(name)) throw new UsageError('ERR_BAD_ROUTE', `--route: '${name}' is routed twice`);
    let backend = text.slice(eq + 1);
    const given = new Set<string>();
    for (let option = ROUTE_OPTION.exec(backend); option; option = ROUTE_OPTION.exec(backend)) {
      const [whole, key, value] = option as unknown as [string, string, string];
      const set = Object.hasOwn(ROUTE_OPTIONS, key) ? ROUTE_OPTIONS[key] : undefined;
      if (!set)
        throw new UsageError(
          'ERR_BAD_ROUTE',
          `--route ${name}: unknown option '${key}' (the options are ${ROUTE_FORMS})`,
        );
      if (given.has(key)) throw new UsageError('ERR_BAD_ROUTE', `--route ${name}: ${key} given twice`);
      given.add(key);
      set(parsed, name, value);
      backend = backend.slice(0, backend.length - whole.length);
    }
    refuseLeftoverOption(name, backend);
    parsed.routes.set(name, parseAddress(backend, `--route ${name}`));
  }
  return parsed;
}

/**
 * What is left of a route once its `,KEY=VALUE` options are peeled off. A trailing `,transparent`
 * is an option missing its value, even after a unix path; after HOST:PORT, which never holds a
 * comma, any `,TEXT` is an option that does not exist. Said so, rather than "no valid port".
 */
function refuseLeftoverOption(name: string, backend: string): void {
  const comma = backend.lastIndexOf(',');
  if (comma < 0) return;
  const rest = backend.slice(comma + 1);
  if (Object.hasOwn(ROUTE_OPTIONS, rest))
    throw new UsageError(
      'ERR_BAD_ROUTE',
      `--route ${name}: '${rest}' needs a value: ${ROUTE_FORMS.split(', ').find((f) => f.startsWith(`${rest}=`))}`,
    );
  if (backend.startsWith('/') || backend.startsWith('@')) return;
  throw new UsageError(
    'ERR_BAD_ROUTE',
    `--route ${name}: unknown option '${backend.slice(backend.indexOf(',') + 1)}' (the options are ${ROUTE_FORMS})`,
  );
}

/** 0 and infinity both mean "off" for timeouts where 0 would otherwise close everything at once. */
function optionalSpan(text: string, flag: string, limit: SpanLimit = TIMER_LIMIT): number {
  const ms = parseTimeSpan(text, flag);
  return ms === 0 ? Infinity : spanWithin(ms, limit, text, flag);
}

/** A default must never fail: on a system whose pipe-max-size is below it, it shrinks to fit. */
function pipeSizeOf(text: string): number {
  const bytes = parseSize(text, '--pipe-size');
  if (text === DEFAULTS.pipeSize) return Math.min(bytes, pipeMaxSize());
  return pipeSizeWithin(bytes, text, '--pipe-size');
}

function textfilePath(text: string): string {
  if (!text.startsWith('/') || text.endsWith('/')) {
    throw new UsageError('ERR_BAD_PATH', `--metrics-textfile: '${text}' must be an absolute file path`);
  }
  return text;
}

export function buildConfig(backend: string | undefined, raw: RawOptions): Config {
  const routes = parseRoutes(raw.route);
  return {
    backend: backend === undefined ? null : parseAddress(backend, 'BACKEND'),
    routes: routes.routes,
    proxyProtocol: proxyProtocolOf(raw.proxyProtocol, '--proxy-protocol'),
    routeProxyProtocol: routes.proxyProtocol,
    transparent: raw.transparent === true,
    routeTransparent: routes.transparent,
    connectionIdleTimeoutMs: optionalSpan(raw.connectionIdleTimeout, '--connection-idle-timeout'),
    keepaliveMs: optionalSpan(raw.keepalive, '--keepalive', KEEPALIVE_LIMIT),
    udpSessionTimeoutMs: optionalSpan(raw.udpSessionTimeout, '--udp-session-timeout'),
    udpSessionsMax: parsePositiveInt(raw.udpSessionsMax, '--udp-sessions-max'),
    sourceLimits: buildSourceLimits(raw),
    listen: raw.listen.map(parseListen),
    connectionsMax: parsePositiveInt(raw.connectionsMax, '--connections-max'),
    exitIdleTimeMs: parseTimeSpan(raw.exitIdleTime, '--exit-idle-time'),
    shutdownTimeoutMs: parseTimeSpan(raw.shutdownTimeout, '--shutdown-timeout'),
    connectTimeoutMs: parseTimeSpan(raw.connectTimeout, '--connect-timeout'),
    pipeSize: pipeSizeOf(raw.pipeSize),
    logLevel: oneOf(raw.logLevel, LOG_LEVELS, '--log-level'),
    metricsListen:
      raw.metricsListen === undefined
        ? null
        : parseAddress(raw.metricsListen, '--metrics-listen', { allowPortZero: true }),
    metricsTextfile: raw.metricsTextfile === undefined ? null : textfilePath(raw.metricsTextfile),
    accessLog: raw.accessLog === true,
  };
}
