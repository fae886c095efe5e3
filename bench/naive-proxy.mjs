// The baseline every Node proxy is measured against: Node streams, nothing else.
// usage: node bench/naive-proxy.mjs LISTEN_PORT BACKEND_HOST:BACKEND_PORT
import net from 'node:net';

const [port, backend] = process.argv.slice(2);
const m = /^(.+):(\d+)$/.exec(backend ?? '');
if (!port || !m) {
  process.stderr.write('usage: naive-proxy.mjs LISTEN_PORT HOST:PORT\n');
  process.exit(2);
}
const [, host, bport] = m;

const server = net.createServer((c) => {
  const b = net.connect({ host, port: Number(bport) });
  c.on('error', () => b.destroy());
  b.on('error', () => c.destroy());
  c.pipe(b).pipe(c);
});
server.listen({ host: '127.0.0.1', port: Number(port), backlog: 4096 }, () => {
  process.stdout.write(`listening ${port}\n`);
});
