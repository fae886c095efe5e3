// Child process for the idle-memory workload: a sink server (the backend) and a client that opens
// idle connections through a proxy to it. It lives apart from the driver so it can run with a raised
// fd limit (two fds per connection here). Line protocol on stdin/stdout:
//   (start)            -> "sink PORT"
//   "open PORT N"      -> opens connections to PORT until N are open and the sink holds N,
//                         then "open N"  (or "error MESSAGE")
//   "close"            -> "closed"
import net from 'node:net';
import readline from 'node:readline';

const HOST = '127.0.0.1';
const BATCH = 200;
const DEADLINE_MS = 60_000;
const clients = [];
const held = new Set();
let onHeld = null;

const sink = net.createServer({ pauseOnConnect: true }, (s) => {
  held.add(s);
  s.on('error', () => {});
  s.on('close', () => held.delete(s));
  onHeld?.();
});
sink.listen({ host: HOST, port: 0, backlog: 4096 }, () => say(`sink ${sink.address().port}`));

function say(line) {
  process.stdout.write(line + '\n');
}

function connectOne(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function open(port, n) {
  const deadline = Date.now() + DEADLINE_MS;
  while (clients.length < n) {
    if (Date.now() > deadline) throw new Error(`only ${clients.length}/${n} connected in time`);
    const k = Math.min(BATCH, n - clients.length);
    const batch = await Promise.all(Array.from({ length: k }, () => connectOne(port)));
    clients.push(...batch);
  }
  // Connected to the proxy is not yet through it: wait until the proxy has reached the sink.
  if (held.size < n) {
    await new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`sink holds ${held.size}/${n} after ${DEADLINE_MS} ms`)),
        Math.max(0, deadline - Date.now()),
      );
      onHeld = () => {
        if (held.size >= n) {
          clearTimeout(t);
          onHeld = null;
          resolve();
        }
      };
    });
  }
  const dead = clients.filter((c) => c.destroyed).length;
  if (dead) throw new Error(`${dead} client connections were closed by the proxy`);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const [cmd, a, b] = line.trim().split(/\s+/);
  try {
    if (cmd === 'open') {
      await open(Number(a), Number(b));
      say(`open ${clients.length}`);
    } else if (cmd === 'close') {
      for (const c of clients.splice(0)) c.destroy();
      for (const s of held) s.destroy();
      say('closed');
    } else {
      say(`error unknown command ${cmd}`);
    }
  } catch (err) {
    say(`error ${err.message}`);
  }
});
rl.on('close', () => process.exit(0));
