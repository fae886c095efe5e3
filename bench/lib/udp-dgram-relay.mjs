// sockrelay's pure-TypeScript UDP relay (DgramUdpRelay, on node:dgram) over the datagram socket
// systemd-socket-activate passes as fd 3, with the CLI's defaults. The CLI picks this relay only when
// the addon lacks UdpRelay; with the addon disabled altogether (SOCKRELAY_NO_NATIVE=1) it cannot
// classify an inherited fd and takes it for a stream listener. This measures the relay itself.
//   node udp-dgram-relay.mjs DIST_DIR HOST:PORT
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, backend] = process.argv.slice(2);
if (process.env.LISTEN_FDS !== '1') {
  process.stderr.write('udp-dgram-relay: expects exactly one fd from systemd-socket-activate -d\n');
  process.exit(64);
}
const { DgramUdpRelay } = await import(pathToFileURL(path.join(dist, 'udp/index.js')).href);
const [address, port] = backend.split(':');
const relay = new DgramUdpRelay({
  fd: 3,
  family: 'inet',
  label: 'bench',
  backend: { spec: backend, addresses: [{ family: 'inet', address, port: Number(port) }] },
  sessionTimeoutMs: 30_000,
  sessionsMax: 4096,
});
relay.on('socketError', (e) => process.stderr.write(`udp-dgram-relay: ${JSON.stringify(e)}\n`));
relay.start();
process.on('SIGTERM', () => {
  relay.destroy();
  process.exit(0);
});
