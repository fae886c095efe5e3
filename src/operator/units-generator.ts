/**
 * The files of one proxy run by the template unit sockrelay@.service: a socket unit
 * sockrelay@NAME.socket (systemd starts the service instance of the same name from it) and
 * /etc/sockrelay/NAME.conf, the EnvironmentFile= that holds BACKEND and the SOCKRELAY_* settings.
 * With an on-demand backend, two drop-ins: one makes the proxy instance require the backend, the
 * other stops the backend once nothing needs it.
 *
 * Pure text: nothing here touches the file system, so what is printed and what is written agree.
 */
import { parseAddress } from '../config/address.js';
import { UsageError } from '../errors.js';
import { ipVersion } from '../config/ip-literal.js';

export interface UnitsRequest {
  listen: string[];
  udp: boolean;
  name: string | undefined;
  onDemand: string | undefined;
  /** The README's "public-facing socket" recipe: per-source limits and an idle timeout. */
  publicFacing?: boolean;
  backend: string | undefined;
  /** Every other setting's variable and default, listed commented out in the conf for reference. */
  reference: ReadonlyArray<{ envName: string; defaultText: string | undefined }>;
}

export interface GeneratedFile {
  /** Where it belongs: with the unit files, or in the conf directory. */
  place: 'units' | 'conf';
  /** Relative to that place. */
  path: string;
  text: string;
}

const INSTANCE_NAME = /^[A-Za-z0-9_.-]+$/;
/** A service, or an instance of a template (a template itself cannot be started). */
const UNIT_NAME = /^[A-Za-z0-9_.:\\-]+(@[A-Za-z0-9_.:\\-]+)?\.service$/;
/** systemd's UNIT_NAME_MAX, without the NUL; a file name (NAME.d) has the same limit. */
const UNIT_NAME_MAX = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
/** A backend started with the proxy needs a moment to listen; sockrelay holds clients meanwhile. */
const ON_DEMAND_SETTINGS: ReadonlyArray<[string, string]> = [
  ['SOCKRELAY_EXIT_IDLE_TIME', '10min'],
  ['SOCKRELAY_CONNECT_TIMEOUT', '30s'],
  ['SOCKRELAY_CONNECTION_IDLE_TIMEOUT', '1h'],
];
const PLAIN_SETTINGS: ReadonlyArray<[string, string]> = [['SOCKRELAY_EXIT_IDLE_TIME', '5min']];
/**
 * Clients straight from the internet, each its own source (README, "A public-facing socket"): no
 * source holds more than an eighth of the cap or opens more than 20 a second, and an idle
 * connection gives its slot back.
 */
const PUBLIC_SETTINGS: ReadonlyArray<[string, string]> = [
  ['SOCKRELAY_CONNECTIONS_MAX', '256'],
  ['SOCKRELAY_CONNECTIONS_PER_SOURCE', '32'],
  ['SOCKRELAY_CONNECTION_RATE_PER_SOURCE', '20/1s'],
  ['SOCKRELAY_CONNECTION_IDLE_TIMEOUT', '10min'],
];

/**
 * Every value lands on a line of a file systemd or sockrelay reads line by line: a control
 * character (a newline above all) would start a setting of its own, ExecStartPre= included.
 */
function refuseControl(text: string, what: string): void {
  if (CONTROL.test(text))
    throw new UsageError('ERR_UNSAFE_VALUE', `${what}: '${text}' holds a control character`);
}

/** In a unit file `%` starts a specifier (systemd.unit(5)); `%%` is the character itself. */
const unitText = (text: string): string => text.replaceAll('%', '%%');

/** Checks a --listen address for systemd's ListenStream=: an IP literal and port, or a unix socket. */
function listenAddress(text: string): { text: string; port: number | undefined; anyV6: boolean } {
  refuseControl(text, '--listen');
  // systemd strips the edges of a value and reads a final backslash as "continued on the next line".
  if (text.trim() !== text || text.includes('\\'))
    throw new UsageError(
      'ERR_UNSAFE_VALUE',
      `--listen: '${text}' starts or ends with a space or holds a backslash: systemd would read it otherwise`,
    );
  const spec = parseAddress(text, '--listen');
  if (spec.kind === 'unix') return { text, port: undefined, anyV6: false };
  if (spec.host.includes('%'))
    throw new UsageError(
      'ERR_UNSAFE_VALUE',
      `--listen: '${text}': systemd's ListenStream= takes no zone; give the address and set BindToDevice= in a drop-in`,
    );
  if (ipVersion(spec.host) === 0)
    throw new UsageError(
      'ERR_BAD_ADDRESS',
      `--listen: '${text}' needs an IP address: systemd binds no host names`,
    );
  return { text, port: spec.port, anyV6: spec.host === '::' };
}

/** Quotes a value for an EnvironmentFile= line when it holds spaces or quotes. */
function envValue(value: string): string {
  return /^[^\s"'\\$`]*$/.test(value) ? value : `"${value.replace(/(["\\$`])/g, '\\$1')}"`;
}

export function generateUnits(request: UnitsRequest): GeneratedFile[] {
  if (request.listen.length === 0) throw new UsageError('ERR_NO_LISTEN', 'units: give at least one --listen');
  const listeners = request.listen.map(listenAddress);
  if (request.backend !== undefined) {
    refuseControl(request.backend, 'BACKEND');
    // The template's ExecStart= passes $BACKEND unquoted: systemd splits it at white space.
    if (/\s/.test(request.backend))
      throw new UsageError(
        'ERR_UNSAFE_VALUE',
        `BACKEND: '${request.backend}' holds a space: the unit passes it as one word`,
      );
    parseAddress(request.backend, 'BACKEND');
  }
  const name = request.name ?? listeners.find((l) => l.port !== undefined)?.port?.toString();
  if (name === undefined)
    throw new UsageError('ERR_NO_NAME', 'units: give --name (there is no port to name the proxy after)');
  if (!INSTANCE_NAME.test(name))
    throw new UsageError('ERR_BAD_NAME', `--name: '${name}' may hold only letters, digits, '_', '.' and '-'`);
  if (`sockrelay@${name}.service.d`.length > UNIT_NAME_MAX)
    throw new UsageError(
      'ERR_BAD_NAME',
      `--name: '${name}' is longer than ${UNIT_NAME_MAX - 'sockrelay@.service.d'.length} characters (a unit name has ${UNIT_NAME_MAX} at most)`,
    );
  const onDemand = request.onDemand;
  if (onDemand !== undefined && !UNIT_NAME.test(onDemand))
    throw new UsageError('ERR_BAD_UNIT', `--on-demand: '${onDemand}' is not a unit name ending in .service`);
  if (onDemand !== undefined && `${onDemand}.d`.length > UNIT_NAME_MAX)
    throw new UsageError(
      'ERR_BAD_UNIT',
      `--on-demand: '${onDemand}' is longer than ${UNIT_NAME_MAX - 2} characters (a unit name has ${UNIT_NAME_MAX} at most)`,
    );

  const service = `sockrelay@${name}.service`;
  const socket = `sockrelay@${name}.socket`;
  const conf = `${name}.conf`;
  const listenLines = listeners.flatMap((l) => [
    `ListenStream=${unitText(l.text)}`,
    ...(request.udp ? [`ListenDatagram=${unitText(l.text)}`] : []),
  ]);
  const socketText = `# ${socket}: where clients of proxy "${name}" connect. The first connection starts
# ${service} (the template sockrelay@.service), which reads /etc/sockrelay/${conf}.
# Generated by \`sockrelay units\`.
#
# Install (with sockrelay@.service and /etc/sockrelay/${conf} in place):
#   cp ${socket} /etc/systemd/system/
#   systemctl daemon-reload
#   systemctl enable --now ${socket}

[Unit]
Description=sockrelay listener ${name} on ${listeners.map((l) => unitText(l.text)).join(' ')}

[Socket]
${listenLines.join('\n')}
${listeners.some((l) => l.anyV6) ? '# [::] takes IPv6 only, so 0.0.0.0 can bind the same port for IPv4.\nBindIPv6Only=ipv6-only\n' : ''}# Clients wait here while sockrelay starts; make room for bursts.
Backlog=4096

[Install]
WantedBy=sockets.target
`;

  const settings = [
    ...new Map([
      ...(onDemand === undefined ? PLAIN_SETTINGS : ON_DEMAND_SETTINGS),
      ...(request.publicFacing === true ? PUBLIC_SETTINGS : []),
    ]),
  ];
  const set = new Set(settings.map(([key]) => key));
  const reference = request.reference
    .filter(({ envName }) => !set.has(envName) && envName !== 'SOCKRELAY_LISTEN')
    .map(
      ({ envName, defaultText }) =>
        `#${envName}=${defaultText === undefined ? '' : envValue(defaultText.replace(/^"(.*)"$/, '$1'))}`,
    );
  const confText = `# /etc/sockrelay/${conf}: settings of ${service}, read through EnvironmentFile=.
# One variable per line; every sockrelay option has one (see sockrelay(8)).
${request.backend === undefined ? '# No BACKEND: set SOCKRELAY_ROUTE="NAME=BACKEND ..." for sockets named with FileDescriptorName=.\n#BACKEND=\n' : `BACKEND=${envValue(request.backend)}\n`}${settings.map(([key, value]) => `${key}=${value}`).join('\n')}

# The other settings, at their defaults:
${reference.join('\n')}
`;

  const files: GeneratedFile[] = [
    { place: 'units', path: socket, text: socketText },
    { place: 'conf', path: conf, text: confText },
  ];
  if (onDemand !== undefined) {
    files.push(
      {
        place: 'units',
        path: `${service}.d/on-demand.conf`,
        text: `# Proxy "${name}" starts ${onDemand} and keeps it up while it runs. After= only waits
# until the backend counts as started; SOCKRELAY_CONNECT_TIMEOUT holds clients until it listens.
[Unit]
Requires=${onDemand}
After=${onDemand}
`,
      },
      {
        place: 'units',
        path: `${onDemand}.d/sockrelay-on-demand.conf`,
        text: `# Stop ${onDemand} once no unit needs it: when ${service} has exited idle.
[Unit]
StopWhenUnneeded=yes
`,
      },
    );
  }
  return files;
}
