// The client and the backend of the transparent-mode tests, run inside their network namespaces
// (`ip netns exec NS node peer.mjs ROLE …`). Each reports what it saw as one JSON line per event on
// stdout, so the test can compare the client's own address and port with what the backend's
// accept() or recvfrom() returned.
//
//   tcp-backend HOST PORT          echo every byte, then after the client's FIN its sha256: a reply
//                                  sent after the half-close
//   udp-backend HOST PORT          echo every datagram
//   tcp-client HOST PORT BYTES     send BYTES random bytes, shut down writing, read to the end
//   udp-client HOST PORT BYTES     send one datagram, wait for its echo
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

const [role, host, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const report = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
// A peer never outlives its test by much, whatever happens to the test.
setTimeout(() => process.exit(3), 60_000).unref();

if (role === 'tcp-backend') {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    report({ event: 'accepted', address: socket.remoteAddress, port: socket.remotePort });
    const hash = createHash('sha256');
    socket.on('data', (chunk) => {
      hash.update(chunk);
      socket.write(chunk);
    });
    socket.on('end', () => socket.end(`${hash.digest('hex')}\n`));
    socket.on('error', () => undefined);
  });
  server.listen({ host, port }, () => report({ event: 'listening' }));
} else if (role === 'udp-backend') {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message, from) => {
    report({ event: 'datagram', address: from.address, port: from.port });
    socket.send(message, from.port, from.address);
  });
  socket.bind({ address: host, port }, () => report({ event: 'listening' }));
} else if (role === 'tcp-client') {
  const payload = randomBytes(Number(bytesText));
  const socket = net.connect({ host, port, allowHalfOpen: true });
  const received = [];
  socket.on('connect', () => {
    report({ event: 'connected', address: socket.localAddress, port: socket.localPort });
    socket.end(payload);
  });
  socket.on('data', (chunk) => received.push(chunk));
  const done = (error) => {
    const all = Buffer.concat(received);
    report({
      event: 'done',
      error,
      sent: sha256(payload),
      echoed: sha256(all.subarray(0, payload.length)),
      trailer: all.subarray(payload.length).toString(),
    });
    process.exit(0);
  };
  socket.on('end', () => done(null));
  socket.on('error', (err) => done(err.code));
} else if (role === 'udp-client') {
  const payload = randomBytes(Number(bytesText));
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message) => {
    report({ event: 'done', sent: sha256(payload), echoed: sha256(message) });
    process.exit(0);
  });
  socket.connect(port, host, () => {
    report({ event: 'connected', address: socket.address().address, port: socket.address().port });
    socket.send(payload);
  });
} else {
  process.stderr.write(`peer.mjs: unknown role ${role}\n`);
  process.exit(64);
}
