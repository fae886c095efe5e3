// One round trip through a subject before the run: a build that cannot relay a byte is reported
// once and skipped, instead of failing every measurement for ten minutes.
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { startSubject, proxyLog } from './subjects.mjs';
import { udpRoundTrip } from './udp.mjs';
import { tail } from './proc.mjs';
import { HOST, connect, firstByte } from './net.mjs';

export async function smoke(subject, subjectOpts) {
  if (subject.proto === 'udp') return smokeUdp(subject, subjectOpts);
  const server = net.createServer((c) => c.end('ok\n'));
  server.listen(0, HOST);
  await once(server, 'listening');
  let proxy;
  try {
    proxy = await startSubject(subject, server.address().port, subjectOpts);
    const sock = await connect(proxy.port, 5000);
    await firstByte(sock, '', 5000);
    return null;
  } catch (err) {
    const died = proxy?.death();
    if (!died && proxy?.proc) await Promise.race([proxy.proc.exited, new Promise((r) => setTimeout(r, 200))]);
    return `smoke test failed: ${err.message}${proxy?.death() ? ` (proxy exited: ${proxy.death()})` : ''}`;
  } finally {
    await proxy?.stop();
    server.close();
  }
}

/** One datagram there and back through a UDP subject, to a Node echo server. */
async function smokeUdp(subject, subjectOpts) {
  const server = dgram.createSocket('udp4');
  server.on('message', (m, rinfo) => server.send(m, rinfo.port, rinfo.address));
  server.bind(0, HOST);
  await once(server, 'listening');
  let proxy;
  try {
    proxy = await startSubject(subject, server.address().port, subjectOpts);
    await udpRoundTrip(proxy.port, 5000);
    return null;
  } catch (err) {
    if (proxy?.proc) await Promise.race([proxy.proc.exited, new Promise((r) => setTimeout(r, 200))]);
    const said = proxy?.death() ?? (proxy?.proc ? proxyLog(proxy.proc) : '');
    return `smoke test failed: ${err.message}${said ? ` (proxy said: ${tail(said, 300)})` : ''}`;
  } finally {
    await proxy?.stop();
    server.close();
  }
}
