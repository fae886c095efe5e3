// The clients (and, inside a namespace, the echo backends) of the per-source admission tests, run as
// `node source-peer.mjs ROLE …`, directly for loopback sources or under `ip netns exec NS` for IPv6
// sources of a namespace of the test's own. One JSON line per event on stdout.
//
//   tcp-echo HOST PORT               echo every byte
//   udp-echo HOST PORT               echo every datagram
//   tcp-hold HOST PORT FROM N        open N connections from FROM one after another; each sends a
//                                    probe and reports `served` (the probe came back: it is relayed)
//                                    or `reset` (refused); the served ones stay open, idle, until the
//                                    peer is killed. `held` once all N are settled.
//   tcp-ask HOST PORT FROM           connect from FROM, send "hi", report `answer` with what came back
//                                    (or `failed` with the error)
//   tcp-sweep HOST PORT FROM N       one connection each from N sources counted up from FROM
//                                    (127.1.0.0, 127.1.0.1, …), in order, 8 at a time, each served
//                                    and closed: `swept` with how many were served and reset
//   udp-hold HOST PORT FROM N        N sockets bound to FROM each send one probe at once; `served`
//                                    per reply. The refused ones never hear back.
//   udp-ask HOST PORT FROM           one datagram "hi" from FROM, `answer` with the reply
import dgram from 'node:dgram';
import net from 'node:net';

const [role, host, portText, from, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText ?? 0);
const report = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
// A peer never outlives its test by much, whatever happens to the test.
setTimeout(() => process.exit(3), 60_000).unref();
const udpType = (address) => (address.includes(':') ? 'udp6' : 'udp4');

/** One connection from FROM: resolves 'served' once the probe echoes, 'reset' when refused. */
function holdOne(index) {
  return new Promise((resolve) => {
    const probe = `probe ${index}\n`;
    const socket = net.connect({ host, port, localAddress: from });
    let received = '';
    let settled = false;
    const settle = (outcome, detail) => {
      if (settled) return;
      settled = true;
      report({ event: outcome, index, ...detail });
      resolve(outcome);
    };
    socket.on('connect', () => socket.write(probe));
    socket.on('data', (chunk) => {
      received += chunk;
      if (received === probe) settle('served', { local: socket.localAddress });
    });
    socket.on('error', (err) => settle('reset', { code: err.code }));
    socket.on('close', () => settle('reset', { code: 'closed' }));
  });
}

if (role === 'tcp-echo') {
  net
    .createServer((socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    })
    .listen({ host, port }, () => report({ event: 'listening' }));
} else if (role === 'udp-echo') {
  const socket = dgram.createSocket(udpType(host));
  socket.on('message', (message, peer) => socket.send(message, peer.port, peer.address));
  socket.bind({ address: host, port }, () => report({ event: 'listening' }));
} else if (role === 'tcp-hold') {
  const outcomes = [];
  for (let i = 0; i < count; i++) outcomes.push(await holdOne(i));
  report({
    event: 'held',
    served: outcomes.filter((o) => o === 'served').length,
    reset: outcomes.filter((o) => o === 'reset').length,
  });
} else if (role === 'tcp-sweep') {
  const base = from.split('.').map(Number);
  const start = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0;
  const sweepOne = (n) =>
    new Promise((resolve) => {
      const address = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
      const socket = net.connect({ host, port, localAddress: address });
      socket.on('connect', () => socket.write('x'));
      socket.on('data', () => (socket.destroy(), resolve('served')));
      socket.on('error', () => resolve('reset'));
      socket.on('close', () => resolve('reset'));
    });
  let served = 0;
  // A few at a time, in order: the sources still arrive oldest first, give or take a batch.
  for (let i = 0; i < count; i += 8) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 8); j++) batch.push(sweepOne(start + j));
    served += (await Promise.all(batch)).filter((o) => o === 'served').length;
  }
  report({ event: 'swept', served, reset: count - served });
} else if (role === 'tcp-ask') {
  const socket = net.connect({ host, port, localAddress: from });
  let answer = '';
  socket.on('connect', () => socket.write('hi'));
  socket.on('data', (chunk) => {
    answer += chunk;
    if (answer.length >= 2) {
      report({ event: 'answer', text: answer, local: socket.localAddress });
      socket.destroy();
    }
  });
  socket.on('error', (err) => report({ event: 'failed', code: err.code }));
} else if (role === 'udp-hold') {
  for (let i = 0; i < count; i++) {
    const socket = dgram.createSocket(udpType(host));
    socket.on('message', (message) => report({ event: 'served', index: i, text: message.toString() }));
    socket.bind({ address: from, port: 0 }, () => socket.send(`probe ${i}`, port, host));
  }
} else if (role === 'udp-ask') {
  const socket = dgram.createSocket(udpType(host));
  socket.on('message', (message) => {
    report({ event: 'answer', text: message.toString() });
    socket.close();
  });
  socket.bind({ address: from, port: 0 }, () => socket.send('hi', port, host));
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
