// The PROXY protocol header (haproxy's doc/proxy-protocol.txt) of an accepted stream connection,
// built on the relay thread at accept from getpeername/getsockname of the client socket.
//
// The bytes are those of src/proxy-protocol/encode.ts, which the tests hold both engines against:
// v1 TCP4/TCP6 with RFC 5952 IPv6 text, UNKNOWN otherwise; v2 PROXY with 0x11/0x21 for IP and
// 0x31 with two 108-byte sun_path fields for unix, LOCAL when the addresses are unknown. An IPv4
// client of a dual-stack socket (both ends ::ffff:a.b.c.d) is sent as IPv4; an IPv4 end paired
// with a true IPv6 end is mapped into IPv6.
#pragma once
#include <sys/socket.h>

#include <cstddef>

namespace sockrelay {

// The longest header: v2 with two unix addresses (v1 lines are at most 107 bytes).
constexpr size_t kProxyHeaderMax = 16 + 2 * 108;

// Writes the header of `version` (1 or 2) into `out` (kProxyHeaderMax bytes) and returns its length.
// An address of length 0 or of a family the protocol cannot name counts as unknown.
size_t BuildProxyHeader(int version, const struct sockaddr_storage& source, socklen_t sourceLen,
                        const struct sockaddr_storage& destination, socklen_t destinationLen, unsigned char* out);

}  // namespace sockrelay
