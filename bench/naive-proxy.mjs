// The baseline every Node proxy is measured against: Node streams, nothing else.
// usage: node bench/naive-proxy.mjs LISTEN_PORT BACKEND_HOST:BACKEND_PORT
//        systemd-socket-activate -l ADDR node bench/naive-proxy.mjs BACKEND_HOST:BACKEND_PORT
// Socket-activated (LISTEN_FDS set), it serves the socket on fd 3, as a bare Node proxy under
// systemd would: the fair baseline for sockrelay's cold start.
import net from 'node:net';

const activated = process.env.LISTEN_FDS !== undefined;
const args = process.argv.slice(2);
const [port, backend] = activated ? [null, args[0]] : args;
const m = /^(.+):(\d+)$/.exec(backend ?? '');
if ((!activated && !port) || !m) {
  process.stderr.write('usage: naive-proxy.mjs LISTEN_PORT HOST:PORT (or HOST:PORT, socket-activated)\n');
  process.exit(2);
}
const [, host, bport] = m;

const server = net.createServer((c) => {
  const b = net.connect({ host, port: Number(bport) });
  c.on('error', () => b.destroy());
  b.on('error', () => c.destroy());
  c.pipe(b).pipe(c);
});
const where = activated ? { fd: 3 } : { host: '127.0.0.1', port: Number(port), backlog: 4096 };
server.listen(where, () => {
  process.stdout.write(`listening ${port ?? 'fd 3'}\n`);
});
