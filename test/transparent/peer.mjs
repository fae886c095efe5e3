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
//   tcp-session HOST PORT          like tcp-client, driven by lines on stdin: `send N` sends N random
//                                  bytes and reports `echoed` once all sent so far came back; `end`
//                                  shuts down writing
//   udp-session HOST PORT          `send N` on stdin sends one datagram of N bytes from the same
//                                  socket each time and reports `echoed` when it comes back intact
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

const [role, host, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const report = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
/** Calls `run(command, number)` for each `COMMAND [N]` line on stdin. */
function commands(run) {
  let partial = '';
  process.stdin.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const [command, n] = line.trim().split(/\s+/);
      run(command, Number(n ?? 0));
    }
  });
}
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
} else if (role === 'tcp-client' || role === 'tcp-session') {
  const sent = [];
  const socket = net.connect({ host, port, allowHalfOpen: true });
  const received = [];
  let receivedBytes = 0;
  const sentBytes = () => sent.reduce((n, b) => n + b.length, 0);
  socket.on('connect', () => {
    report({ event: 'connected', address: socket.localAddress, port: socket.localPort });
    if (role === 'tcp-client') socket.end(sent[sent.push(randomBytes(Number(bytesText))) - 1]);
  });
  socket.on('data', (chunk) => {
    received.push(chunk);
    const before = receivedBytes;
    receivedBytes += chunk.length;
    const waited = sentBytes();
    if (role === 'tcp-session' && before < waited && receivedBytes >= waited) report({ event: 'echoed' });
  });
  commands((command, n) => {
    if (command === 'send') socket.write(sent[sent.push(randomBytes(n)) - 1]);
    if (command === 'end') socket.end();
  });
  const done = (error) => {
    const all = Buffer.concat(received);
    const payload = Buffer.concat(sent);
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
} else if (role === 'udp-session') {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let last = null;
  socket.on('message', (message) =>
    report({ event: 'echoed', intact: last !== null && message.equals(last) }),
  );
  socket.connect(port, host, () => {
    report({ event: 'connected', address: socket.address().address, port: socket.address().port });
    commands((command, n) => command === 'send' && socket.send((last = randomBytes(n))));
  });
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
