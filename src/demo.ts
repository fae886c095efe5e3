/**
 * `npm run demo`: sockrelay socket-activated on a loopback port in front of a
 * tiny HTTP backend, exiting when idle and activated again by the next request.
 * systemd-socket-activate plays systemd's part: it holds the port and starts
 * sockrelay on the first connection. It does not listen again once sockrelay
 * exits, so the demo starts it anew each time, as a .socket unit would.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PORT = Number(process.env.DEMO_PORT ?? 8480);
const IDLE = process.env.DEMO_IDLE ?? '5s';

async function main(): Promise<void> {
  let requests = 0;
  const backend = createServer((req, res) => {
    requests++;
    res.end(`hello from the demo backend (request #${requests}, ${req.method} ${req.url})\n`);
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as AddressInfo).port;
  // What `sockrelay` runs: the launcher, the bundle and its code cache.
  const cli = fileURLToPath(new URL('./launch.cjs', import.meta.url));

  let stopping = false;
  let current: ReturnType<typeof spawn> | null = null;
  const activate = (): void => {
    const child = spawn(
      'systemd-socket-activate',
      [
        ...['-l', `127.0.0.1:${PORT}`, '--fdname=demo', process.execPath, cli],
        ...[`--exit-idle-time=${IDLE}`, `127.0.0.1:${backendPort}`],
      ],
      { stdio: ['ignore', 'inherit', 'pipe'] },
    );
    current = child;
    createInterface({ input: child.stderr! }).on('line', (line) => console.log(`[sockrelay] ${line}`));
    child.once('error', (err) => console.error(`[demo] cannot run systemd-socket-activate: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.log(
        `[demo] sockrelay exited (${code ?? signal}) after ${IDLE} idle; holding port ${PORT} again`,
      );
      activate();
    });
  };
  activate();

  console.log(`[demo] backend on 127.0.0.1:${backendPort}; sockrelay will be activated on 127.0.0.1:${PORT}`);
  console.log(
    `[demo] try:  curl http://127.0.0.1:${PORT}/   (wait ${IDLE} to see it exit, curl again to re-activate)`,
  );
  console.log('[demo] Ctrl-C to stop');

  const stop = (): void => {
    stopping = true;
    current?.kill('SIGTERM');
    backend.close(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
