// The PROXY protocol header (haproxy's doc/proxy-protocol.txt), built on a relay thread: once per
// accepted stream connection (getpeername/getsockname of the client), or in front of every client
// datagram (its sender and IP_PKTINFO destination), UDP having no connection to send one header for.
//
// The one encoder; test/proxy-protocol/ checks its bytes through real connections:
// v1 TCP4/TCP6 (streams only) with RFC 5952 IPv6 text, UNKNOWN otherwise; v2 PROXY with 0x11/0x21 (0x12/0x22) for IP
// and 0x31 (0x32) with two 108-byte sun_path fields for unix, LOCAL when the addresses are unknown. An IPv4
// client of a dual-stack socket (both ends ::ffff:a.b.c.d) is sent as IPv4; an IPv4 end paired
// with a true IPv6 end is mapped into IPv6.
#pragma once
#include <sys/socket.h>

#include <cstddef>

#include "core/address.h"

namespace sockrelay {

// The longest header: v2 with two unix addresses (v1 lines are at most 107 bytes).
constexpr size_t kProxyHeaderMax = 16 + 2 * 108;

enum class Transport { kStream, kDgram };

// Writes the header of `version` (1 or 2; 2 for datagrams) into `out` (kProxyHeaderMax bytes) and
// returns its length. An address of length 0 or of a family the protocol cannot name counts as unknown.
size_t BuildProxyHeader(int version, Transport transport, const SockAddr& source, const SockAddr& destination,
                        unsigned char* out);

}  // namespace sockrelay
