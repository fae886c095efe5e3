/**
 * `npm run demo`: sockrelay socket-activated on a loopback port in front of a
 * tiny HTTP backend, exiting when idle and activated again by the next request.
 * The Activator plays systemd's part (a .socket unit holding the port).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Activator } from './activation/activator.js';
import { loadNative } from './native/binding.js';

const PORT = Number(process.env.DEMO_PORT ?? 8480);
const IDLE = process.env.DEMO_IDLE ?? '5s';

async function main(): Promise<void> {
  const { binding, error } = loadNative();
  if (!binding) throw new Error(`the demo needs the native addon (${error?.message})`);

  let requests = 0;
  const backend = createServer((req, res) => {
    requests++;
    res.end(`hello from the demo backend (request #${requests}, ${req.method} ${req.url})\n`);
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as AddressInfo).port;

  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const activator = new Activator(binding, {
    sockets: [
      { address: { family: 'inet', address: '127.0.0.1', port: PORT }, type: 'stream', name: 'demo' },
    ],
    command: [process.execPath, cli, `--exit-idle-time=${IDLE}`, `127.0.0.1:${backendPort}`],
    spawn: 'on-demand',
    respawn: true,
  });
  activator.on('spawn', ({ child }: { child: { pid: number } }) =>
    console.log(`[demo] a client arrived: sockrelay activated (pid ${child.pid})`),
  );
  activator.on('exit', (code: number | string) =>
    console.log(`[demo] sockrelay exited (${code}) after ${IDLE} idle; port ${PORT} is still held, waiting`),
  );
  activator.on('stderr', (line: string) => console.log(`[sockrelay] ${line}`));
  activator.start();

  console.log(`[demo] backend on 127.0.0.1:${backendPort}; sockrelay will be activated on 127.0.0.1:${PORT}`);
  console.log(
    `[demo] try:  curl http://127.0.0.1:${PORT}/   (wait ${IDLE} to see it exit, curl again to re-activate)`,
  );
  console.log('[demo] Ctrl-C to stop');

  const stop = (): void => {
    void activator.stop('SIGTERM').then(() => backend.close(() => process.exit(0)));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
