/**
 * The unit files in units/ are meant to be copied verbatim into /etc/systemd/system, so they are checked
 * the way systemd itself would read them there: `systemd-analyze verify`, which loads a unit and everything
 * it pulls in, builds a start transaction, and complains on stderr about unknown keys, unparsable values,
 * missing units and non-executable commands. Any output at all fails the test: systemd reports many of
 * those mistakes with exit code 0 ("Unknown key …, ignoring"), so the exit code alone proves little.
 *
 * Each test verifies inside a throwaway root (test/helpers/systemd-analyze.ts says why).
 *
 * Nothing here boots systemd or starts a unit; systemd-analyze only parses.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRoot, run, SOCKRELAY, verify } from '../helpers/systemd-analyze.js';
import { has } from '../helpers/requires.js';

const UNITS_DIR = fileURLToPath(new URL('../../units/', import.meta.url));
const UNIT_FILES = readdirSync(UNITS_DIR)
  .filter((name) => /\.(socket|service)$/.test(name))
  .sort();
const SERVICES = UNIT_FILES.filter((name) => name.endsWith('.service'));
const SOCKETS = UNIT_FILES.filter((name) => name.endsWith('.socket'));

const TEST_TIMEOUT_MS = 30_000;
/** `systemd-analyze security --offline` exposure (0 = locked down, 10 = none) each service must stay under. */
const MAX_EXPOSURE = 2.0;

type Section = Map<string, string[]>;

/** Minimal systemd.syntax(7) reader: sections of key → values, in order; refuses what it does not handle. */
function parseUnit(text: string, name: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let current: Section | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\'))
      throw new Error(`${name}:${index + 1}: line continuations are not supported here`);
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq <= 0)
      throw new Error(`${name}:${index + 1}: not a key=value in a section`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const UNITS = new Map(UNIT_FILES.map((name) => [name, readFileSync(join(UNITS_DIR, name), 'utf8')]));
const PARSED = new Map([...UNITS].map(([name, text]) => [name, parseUnit(text, name)]));

function values(unit: string, section: string, key: string): string[] {
  const parsed = PARSED.get(unit);
  if (parsed === undefined) throw new Error(`no unit ${unit} in units/`);
  return parsed.get(section)?.get(key) ?? [];
}
const value = (unit: string, section: string, key: string): string | undefined =>
  values(unit, section, key).at(-1);

/** The instance a template is checked as: the one its shipped example socket starts (sockrelay@example). */
function instanceOf(template: string): string | undefined {
  const prefix = template.slice(0, -'.service'.length);
  if (!prefix.endsWith('@')) return undefined;
  return SOCKETS.find((socket) => socket.startsWith(prefix))?.slice(prefix.length, -'.socket'.length);
}
const verifiedAs = (unit: string): string => {
  const instance = instanceOf(unit);
  return instance === undefined ? unit : unit.replace('@.', `@${instance}.`);
};

/** VAR=value lines of an EnvironmentFile=, quotes removed. */
function readEnvironmentFile(path: string): Map<string, string> {
  const lines = readFileSync(path, 'utf8').split('\n');
  return new Map(
    lines
      .map((line) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
      .filter((match) => match !== null)
      .map((match) => [match[1]!, match[2]!.replace(/^"(.*)"$/, '$1')]),
  );
}

/**
 * The command line a service runs: ExecStart= with $VARs from its EnvironmentFile= (for a template,
 * the example conf shipped in units/sockrelay/) expanded, and the file's SOCKRELAY_* settings written
 * as the flags they stand for, so both are checked alike.
 */
function execStart(unit: string): string[] {
  const words = (value(unit, 'Service', 'ExecStart') ?? '').split(/\s+/);
  const file = value(unit, 'Service', 'EnvironmentFile');
  if (file === undefined) return words;
  const instance = instanceOf(unit);
  if (instance === undefined || !file.startsWith('/etc/sockrelay/'))
    throw new Error(`${unit}: EnvironmentFile=${file} has no example in units/sockrelay/`);
  const env = readEnvironmentFile(join(UNITS_DIR, file.slice('/etc/'.length).replaceAll('%i', instance)));
  const list = (text: string | undefined): string[] =>
    (text ?? '').split(/\s+/).filter((item) => item !== '');
  const expanded = words.flatMap((word) => {
    const variable = /^\$\{?(\w+)\}?$/.exec(word)?.[1];
    return variable === undefined ? [word] : list(env.get(variable));
  });
  const settings = [...env]
    .filter(([key]) => key.startsWith('SOCKRELAY_'))
    .flatMap(([key, text]) => {
      const flag = `--${key.slice('SOCKRELAY_'.length).toLowerCase().replaceAll('_', '-')}`;
      return (flag === '--route' || flag === '--listen' ? list(text) : [text]).map(
        (item) => `${flag}=${item}`,
      );
    });
  return [expanded[0]!, ...settings, ...expanded.slice(1)];
}

/** The sockrelay CLI's flags that take a value (design brief); `--route` is repeatable. */
const VALUE_FLAGS = new Set([
  '--connections-max',
  '--exit-idle-time',
  '--connect-timeout',
  '--connection-idle-timeout',
  '--keepalive',
  '--route',
  '--udp-session-timeout',
  '--metrics-listen',
  '--metrics-textfile',
  '--shutdown-timeout',
  '--log-level',
  '--reload-env-file',
]);
const SPAN_FLAGS = new Set([
  '--exit-idle-time',
  '--connect-timeout',
  '--connection-idle-timeout',
  '--keepalive',
  '--udp-session-timeout',
  '--shutdown-timeout',
]);
const TIME_SPAN = /^(infinity|(\d+(\.\d+)?(us|ms|s|sec|min|m|h|d)?)+)$/;
const BACKEND = /^(\d{1,3}(\.\d{1,3}){3}:\d+|\[[0-9a-fA-F:.]+\]:\d+|[A-Za-z0-9.-]+:\d+|\/\S+|@\S+)$/;

/** Splits a sockrelay command line into flags and positionals, failing on anything the CLI does not know. */
function parseSockrelayArgs(argv: string[]): { flags: Map<string, string[]>; positionals: string[] } {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag === '-c') flag = '--connections-max';
    if (!VALUE_FLAGS.has(flag)) throw new Error(`unknown sockrelay flag ${flag}`);
    const val = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (val === undefined) throw new Error(`${flag} needs a value`);
    flags.set(flag, [...(flags.get(flag) ?? []), val]);
  }
  return { flags, positionals };
}

const HARDENING: ReadonlyArray<readonly [string, string]> = [
  ['DynamicUser', 'yes'],
  ['NoNewPrivileges', 'yes'],
  ['ProtectSystem', 'strict'],
  ['ProtectHome', 'yes'],
  ['PrivateTmp', 'yes'],
  ['CapabilityBoundingSet', ''],
  ['SystemCallArchitectures', 'native'],
];

describe.skipIf(!has('systemd-analyze'))('units/', () => {
  let root = '';

  beforeAll(async () => {
    const version = await run('systemd-analyze', ['--version']).catch((error: unknown) => {
      throw new Error('systemd-analyze is needed for this test (Debian: apt-get install systemd)', {
        cause: error,
      });
    });
    expect(version.code).toBe(0);
    root = await buildRoot(UNITS);
  }, 60_000);

  afterAll(async () => {
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it('the flag check rejects what the CLI does not know', () => {
    expect(() => parseSockrelayArgs(['--exit-idle=5min', '127.0.0.1:8080'])).toThrow(
      /unknown sockrelay flag/,
    );
    expect(() => parseSockrelayArgs(['--route'])).toThrow(/needs a value/);
  });

  it('ships every pattern the docs promise', () => {
    for (const name of [
      'sockrelay.socket',
      'sockrelay.service',
      'sockrelay-dualstack.socket',
      'sockrelay-dualstack.service',
      'sockrelay-web.socket',
      'sockrelay-admin.socket',
      'sockrelay-routed.service',
      'sockrelay-ondemand.socket',
      'sockrelay-ondemand.service',
      'heavy-backend.service',
      'sockrelay-inetd.socket',
      'sockrelay-inetd@.service',
      'sockrelay-private.socket',
      'sockrelay-private.service',
      'sockrelay-metrics.socket',
      'sockrelay-metrics.service',
      'sockrelay@.service',
      'sockrelay@example.socket',
    ]) {
      expect(UNIT_FILES).toContain(name);
    }
  });

  describe('systemd-analyze verify prints nothing', () => {
    it.each(UNIT_FILES)(
      '%s',
      async (unit) => {
        const result = await verify(root, verifiedAs(unit));
        expect({ unit, ...result }).toEqual({ unit, code: 0, signal: null, stdout: '', stderr: '' });
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('the check can fail', () => {
    let badRoot = '';
    const base = (name: string): string => UNITS.get(name) ?? '';
    /** Edits directive lines only: the comment blocks quote the same directives. */
    const swap = (text: string, from: string, to: string): string => {
      let edits = 0;
      const lines = text.split('\n').map((line) => {
        if (line.startsWith('#') || !line.includes(from)) return line;
        edits++;
        return line.replaceAll(from, to);
      });
      if (edits === 0) throw new Error(`broken-copy fixture: no directive contains '${from}'`);
      return lines.join('\n');
    };
    const broken: ReadonlyArray<{ unit: string; text: () => string; warning: RegExp }> = [
      {
        unit: 'broken-typo.service',
        text: () => swap(base('sockrelay.service'), 'NoNewPrivileges=yes', 'NoNewPrivilege=yes'),
        warning: /Unknown key 'NoNewPrivilege' in section \[Service\]/,
      },
      {
        unit: 'broken-template@.service',
        text: () => swap(base('sockrelay-inetd@.service'), 'ProtectHome=yes', 'ProtectHomes=yes'),
        warning: /Unknown key 'ProtectHomes'/,
      },
      {
        unit: 'broken-value.socket',
        text: () =>
          swap(base('sockrelay-dualstack.socket'), 'BindIPv6Only=ipv6-only', 'BindIPv6Only=ipv6only') +
          '\n[Socket]\nService=sockrelay-dualstack.service\n',
        warning: /Failed to parse bind IPv6 only value, ignoring: ipv6only/,
      },
      {
        unit: 'broken-binary.service',
        text: () => swap(base('sockrelay.service'), SOCKRELAY, `${SOCKRELAY}-not-installed`),
        warning: /is not executable/,
      },
      {
        unit: 'broken-dependency.service',
        text: () => swap(base('sockrelay-ondemand.service'), 'heavy-backend.service', 'heavy-backnd.service'),
        warning: /heavy-backnd\.service not found/,
      },
    ];

    beforeAll(async () => {
      badRoot = await buildRoot(
        new Map([...UNITS, ...broken.map(({ unit, text }) => [unit, text()] as const)]),
      );
    }, 60_000);

    afterAll(async () => {
      if (badRoot !== '') await rm(badRoot, { recursive: true, force: true });
    });

    it.each(broken)(
      '$unit',
      async ({ unit, warning }) => {
        const result = await verify(badRoot, unit);
        expect(result.stderr).toMatch(warning);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'the stand-in is what makes ExecStart= pass: verify looks inside the root',
      async () => {
        const standIn = join(badRoot, SOCKRELAY);
        const saved = await readFile(standIn);
        await rm(standIn);
        try {
          const result = await verify(badRoot, 'sockrelay.service');
          expect(result.stderr).toContain(`Command ${SOCKRELAY} is not executable`);
        } finally {
          await writeFile(standIn, saved, { mode: 0o755 });
        }
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('every file explains itself', () => {
    it.each(UNIT_FILES)(
      '%s opens with when to use it and how to install it',
      async (unit) => {
        const text = await readFile(join(UNITS_DIR, unit), 'utf8');
        const header = text.slice(0, text.search(/^\[/m));
        expect(header.startsWith(`# ${unit}: `)).toBe(true);
        expect(header.split('\n').every((line) => line === '' || line.startsWith('#'))).toBe(true);
        expect(header).toContain('/etc/systemd/system/');
        expect(header).toMatch(/systemctl enable --now \S+\.socket/);
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('services are hardened', () => {
    it.each(SERVICES)('%s', (unit) => {
      for (const [key, expected] of HARDENING)
        expect({ unit, [key]: value(unit, 'Service', key) }).toEqual({ unit, [key]: expected });
      // Node's JIT needs writable-then-executable memory: this option would kill it at startup.
      expect(values(unit, 'Service', 'MemoryDenyWriteExecute')).toEqual([]);
      const families = values(unit, 'Service', 'RestrictAddressFamilies').join(' ').split(/\s+/);
      expect(families.length).toBeGreaterThan(0);
      for (const family of families) expect(['AF_UNIX', 'AF_INET', 'AF_INET6']).toContain(family);
      expect(families).toContain('AF_UNIX');
    });

    it.each(SERVICES)(
      '%s: systemd-analyze security exposure at most ' + MAX_EXPOSURE,
      async (unit) => {
        const result = await run('systemd-analyze', [
          'security',
          '--offline=yes',
          `--root=${root}`,
          '--no-pager',
          unit,
        ]);
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        const level = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(result.stdout)?.[1];
        expect(level).toBeDefined();
        expect(Number(level)).toBeLessThanOrEqual(MAX_EXPOSURE);
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('sockrelay command lines use the CLI as documented', () => {
    const proxies = SERVICES.filter((unit) => execStart(unit)[0] === SOCKRELAY);

    it('every service but the backend stand-in runs sockrelay', () => {
      expect(SERVICES.filter((unit) => !proxies.includes(unit))).toEqual(['heavy-backend.service']);
    });

    it.each(proxies)('%s', (unit) => {
      expect(value(unit, 'Service', 'Type')).toBe('notify');
      expect(value(unit, 'Service', 'NotifyAccess')).toBe('main');
      const { flags, positionals } = parseSockrelayArgs(execStart(unit).slice(1));
      for (const [flag, vals] of flags) {
        for (const val of vals) {
          if (SPAN_FLAGS.has(flag)) expect(val).toMatch(TIME_SPAN);
          if (flag === '--route') expect(val).toMatch(/^[A-Za-z0-9_.-]+=/);
          if (flag === '--route') expect(val.slice(val.indexOf('=') + 1)).toMatch(BACKEND);
        }
      }
      expect(positionals.length).toBe(flags.has('--route') ? 0 : 1);
      for (const backend of positionals) expect(backend).toMatch(BACKEND);
    });
  });

  describe('the patterns are wired as described', () => {
    it('sockets are enabled through sockets.target; services have no [Install]', () => {
      for (const unit of SOCKETS) expect(value(unit, 'Install', 'WantedBy')).toBe('sockets.target');
      for (const unit of SERVICES) expect(PARSED.get(unit)?.has('Install')).toBe(false);
    });

    it('plain proxy: idle exit, and an fd store for handing connections over on restart', () => {
      const { flags, positionals } = parseSockrelayArgs(execStart('sockrelay.service').slice(1));
      expect(flags.get('--exit-idle-time')).toEqual(['5min']);
      expect(positionals).toEqual(['127.0.0.1:8080']);
      expect(Number(value('sockrelay.service', 'Service', 'FileDescriptorStoreMax'))).toBeGreaterThan(0);
    });

    it('dual stack: IPv4 and IPv6, TCP and UDP, with [::] kept off IPv4', () => {
      const unit = 'sockrelay-dualstack.socket';
      const streams = values(unit, 'Socket', 'ListenStream');
      const datagrams = values(unit, 'Socket', 'ListenDatagram');
      expect(streams.some((a) => a.startsWith('0.0.0.0:'))).toBe(true);
      expect(streams.some((a) => a.startsWith('[::]:'))).toBe(true);
      expect(datagrams.some((a) => a.startsWith('0.0.0.0:'))).toBe(true);
      expect(datagrams.some((a) => a.startsWith('[::]:'))).toBe(true);
      expect(value(unit, 'Socket', 'BindIPv6Only')).toBe('ipv6-only');
    });

    it('named fds: one socket unit per name, both feeding one routing service', () => {
      for (const [socket, name] of [
        ['sockrelay-web.socket', 'web'],
        ['sockrelay-admin.socket', 'admin'],
      ] as const) {
        expect(value(socket, 'Socket', 'FileDescriptorName')).toBe(name);
        expect(value(socket, 'Socket', 'Service')).toBe('sockrelay-routed.service');
      }
      const { flags } = parseSockrelayArgs(execStart('sockrelay-routed.service').slice(1));
      expect(flags.get('--route')).toEqual(['web=127.0.0.1:8080', 'admin=/run/admin.sock']);
    });

    it('on-demand backend: stops when unneeded, the proxy requires it and waits for it', () => {
      expect(value('heavy-backend.service', 'Unit', 'StopWhenUnneeded')).toBe('yes');
      const proxy = 'sockrelay-ondemand.service';
      for (const key of ['Requires', 'After']) {
        expect(values(proxy, 'Unit', key).join(' ').split(/\s+/)).toContain('heavy-backend.service');
      }
      const { flags } = parseSockrelayArgs(execStart(proxy).slice(1));
      expect(flags.get('--connect-timeout')).toEqual(['30s']);
      expect(flags.has('--exit-idle-time')).toBe(true);
    });

    it('template: each instance reads /etc/sockrelay/NAME.conf and is started by its own socket', () => {
      const unit = 'sockrelay@.service';
      expect(values(unit, 'Service', 'EnvironmentFile')).toEqual(['/etc/sockrelay/%i.conf']);
      // The conf is the environment at start and is read again by a reload (--reload-env-file).
      expect(value(unit, 'Service', 'ExecStart')).toBe(
        `${SOCKRELAY} --reload-env-file=/etc/sockrelay/%i.conf $BACKEND`,
      );
      expect(value(unit, 'Unit', 'Requires')).toBe('sockrelay@%i.socket');
      const { flags, positionals } = parseSockrelayArgs(execStart(unit).slice(1));
      expect(positionals).toEqual(['127.0.0.1:8080']);
      expect(flags.get('--exit-idle-time')).toEqual(['5min']);
      expect(Number(value(unit, 'Service', 'FileDescriptorStoreMax'))).toBe(
        2 * Number(flags.get('--connections-max')),
      );
    });

    it('inetd style: Accept=yes socket and a template service', () => {
      expect(value('sockrelay-inetd.socket', 'Socket', 'Accept')).toBe('yes');
      expect(values('sockrelay-inetd@.service', 'Service', 'ExecStart')).toHaveLength(1);
    });

    it('private network: no network namespace access, unix-socket backend', () => {
      const unit = 'sockrelay-private.service';
      expect(value(unit, 'Service', 'PrivateNetwork')).toBe('yes');
      const { positionals } = parseSockrelayArgs(execStart(unit).slice(1));
      // A path, not @abstract: abstract sockets live in a network namespace and would be out of reach.
      expect(positionals).toHaveLength(1);
      expect(positionals[0]).toMatch(/^\//);
    });

    it('metrics: endpoint and textfile, with the textfile directory writable under ProtectSystem=strict', () => {
      const unit = 'sockrelay-metrics.service';
      const { flags } = parseSockrelayArgs(execStart(unit).slice(1));
      expect(flags.get('--metrics-listen')).toEqual(['127.0.0.1:9464']);
      expect(flags.get('--metrics-textfile')).toEqual(['/var/lib/prometheus/node-exporter/sockrelay.prom']);
      expect(values(unit, 'Service', 'ReadWritePaths')).toContain('/var/lib/prometheus/node-exporter');
      expect(value(unit, 'Service', 'WatchdogSec')).toBeDefined();
    });
  });
});
