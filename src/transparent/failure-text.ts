/**
 * What a failed backend connection means in transparent mode. There the usual causes (backend
 * down, refusing) gain three of their own, each with a fix the operator needs named:
 *
 * - a connect that times out: the backend answered, but to the client's address, and the host's
 *   policy routing did not bring the reply back to sockrelay (README, "Transparent mode");
 * - the client's address and port in use here: a client on sockrelay's own host, whose own
 *   socket holds them;
 * - no backend address of the client's family: an IPv4 client's address cannot be kept on an
 *   IPv6 connection, nor the reverse.
 *
 * sockrelay never falls back to its own address: the connection fails, and this says why.
 */

interface Failure {
  code: string;
  transparent?: true;
}

const TRANSPARENT_CAUSES: Record<string, string> = {
  ETIMEDOUT:
    "no reply from the backend: its replies go to the client's address and are not routed back to sockrelay; add the policy routing (ip rule + ip route local … table, see README 'Transparent mode')",
  EADDRINUSE:
    "the client's address and port are in use on this host (a client on sockrelay's own host cannot keep its address)",
  EADDRNOTAVAIL:
    "the client's address and port towards this backend are still in use by an earlier connection (TIME_WAIT)",
  EAFNOSUPPORT:
    "the backend has no address of the client's family: an IPv4 client cannot keep its address towards IPv6, nor the reverse",
  EPERM: 'IP_TRANSPARENT refused: the capability CAP_NET_ADMIN (or CAP_NET_RAW) is gone',
};

function transparentCause(failure: Failure): string | undefined {
  return failure.transparent ? TRANSPARENT_CAUSES[failure.code] : undefined;
}

export function connectFailedMessage(failure: Failure): string {
  const cause = transparentCause(failure);
  return cause ? `transparent backend connect failed: ${cause}` : 'backend connect failed';
}

export function sessionErrorMessage(failure: Failure): string {
  const cause = transparentCause(failure);
  return cause ? `transparent UDP session refused: ${cause}` : 'UDP session ended by a backend error';
}
