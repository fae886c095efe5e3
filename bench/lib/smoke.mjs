// One round trip through a subject before the run: a build that cannot relay a byte is reported
// once and skipped, instead of failing every measurement for ten minutes.
import net from 'node:net';
import { once } from 'node:events';
import { startSubject } from './subjects.mjs';
import { HOST, connect, firstByte } from './net.mjs';

export async function smoke(subject, subjectOpts) {
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
