/**
 * sockrelay's programmatic API: what the CLI is built from, for embedding the
 * proxy in another program or driving it from tests.
 */
export { runDaemon, type DaemonDeps } from './daemon.js';
export { buildConfig, DEFAULTS, type Config, type RawOptions } from './config/config.js';
export { parseTimeSpan, formatTimeSpan } from './config/time-span.js';
export { parseAddress, type AddressSpec } from './config/address.js';
export {
  parseListenFds,
  unsetListenEnv,
  type ListenedFd,
  type ListenFdsResult,
} from './activation/listen-fds.js';
export { SpliceEngine } from './engine/splice-engine.js';
export type {
  Engine,
  EngineOptions,
  EngineStats,
  EngineListener,
  HandoverConnection,
} from './engine/types.js';
export { NativeUdpRelay, type UdpRelay, type UdpRelayOptions, type UdpStats } from './udp/index.js';
export { createMetrics, type Metrics, type MetricsSources } from './metrics/index.js';
export { loadNative, type NativeBinding, type NativeLoad, type SocketAddress } from './native/binding.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
export { ExitCode, SockrelayError, UsageError, ConfigError, StartupError } from './errors.js';
