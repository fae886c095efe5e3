/**
 * Socket address syntax shared by BACKEND, --listen and --metrics-listen:
 *   HOST:PORT      127.0.0.1:80, localhost:8080
 *   [IPV6]:PORT    [::1]:80 (systemd-socket-proxyd rejects this form, systemd#35621)
 *   /path          a unix socket in the file system
 *   @name          a unix socket in the abstract namespace
 */
import { UsageError } from '../errors.js';
import { ipVersion } from './ip-literal.js';

export type AddressSpec =
  | { kind: 'inet'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; abstract: boolean; text: string };

/** sun_path is 108 bytes; a file path needs its NUL, an abstract name does not. */
const SUN_PATH_MAX = 108;

export function parseAddress(
  text: string,
  what = 'address',
  options: { allowPortZero?: boolean } = {},
): AddressSpec {
  const bad = (why: string): never => {
    throw new UsageError('ERR_BAD_ADDRESS', `${what}: '${text}' ${why}`);
  };
  if (text.startsWith('/') || text.startsWith('@')) {
    const abstract = text.startsWith('@');
    const path = abstract ? text.slice(1) : text;
    const bytes = Buffer.byteLength(path) + 1;
    if (path.length === 0) bad('names no socket');
    if (bytes > SUN_PATH_MAX) bad(`is too long for a unix socket (at most ${SUN_PATH_MAX - 1} bytes)`);
    if (path.includes('\0')) bad('contains a NUL byte');
    return { kind: 'unix', path, abstract, text };
  }

  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') bad('is not [IPv6]:PORT');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (ipVersion(host) !== 6) bad('has no valid IPv6 address between the brackets');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) bad('is not HOST:PORT, [IPv6]:PORT, /path or @abstract');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) bad('looks like an IPv6 address: write it as [ADDRESS]:PORT');
    if (host === '') bad('has no host');
  }
  if (!/^\d{1,5}$/.test(portText)) bad('has no valid port');
  const port = Number(portText);
  const lowest = options.allowPortZero ? 0 : 1;
  if (port < lowest || port > 65535) bad(`has a port outside ${lowest}..65535`);
  return { kind: 'inet', host, port, text };
}
