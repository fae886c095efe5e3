/**
 * Which IP version a host string is a literal address of: 4, 6, or 0 for a name (or nonsense),
 * exactly as node:net's isIP answers, zone suffix (`fe80::1%eth0`) included.
 *
 * Our own because a socket-activated start asks it of every backend, and loading node:net for
 * the answer loads Node's streams with it: milliseconds of the first client's wait, for a module
 * the native data plane never uses. test/config/ip-literal.test.ts holds it to isIP's answers.
 */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9a-zA-Z.:-]+$/;
const IPV6_GROUPS = 8;

export function ipVersion(host: string): 0 | 4 | 6 {
  if (IPV4.test(host)) return 4;
  return isIPv6(host) ? 6 : 0;
}

function isIPv6(host: string): boolean {
  const percent = host.indexOf('%');
  if (percent >= 0 && !ZONE.test(host.slice(percent + 1))) return false;
  const address = percent >= 0 ? host.slice(0, percent) : host;
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((half) => (half === '' ? [] : half.split(':')));
  // A dotted IPv4 address may end the address, in place of its last two groups.
  const last = groups[groups.length - 1]!;
  let count = 0;
  for (const half of groups) {
    for (const [i, group] of half.entries()) {
      if (HEX_GROUP.test(group)) count += 1;
      else if (half === last && i === half.length - 1 && IPV4.test(group)) count += 2;
      else return false;
    }
  }
  // "::" stands for at least one group of zeros.
  return halves.length === 2 ? count < IPV6_GROUPS : count === IPV6_GROUPS;
}
