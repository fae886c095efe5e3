// Transparent mode: a backend socket bound to the client's own address and port (IP_TRANSPARENT),
// so the backend's accept() or recvfrom() returns the real client instead of the proxy.
//
// The kernel lets a socket marked transparent bind an address that is not local, and sends from
// it; the replies reach it only when the host's policy routing delivers them locally (README,
// "Transparent mode"). Setting the mark needs CAP_NET_ADMIN or CAP_NET_RAW.
//
// An address keeps its family: a v4 client is bound as v4 towards a v4 backend and as v4-mapped
// towards a v4-mapped v6 backend, a v6 client towards a v6 backend only. Any other pairing cannot
// keep the client's address, and the backend address is skipped rather than connected from the
// proxy's own address.
#pragma once
#include "core/address.h"

namespace sockrelay {

// The address a socket to `backend` binds to keep `client` (which may be v4-mapped, as a dual-stack
// listener reports a v4 client); false when `backend`'s family cannot carry it.
bool TransparentSource(const SockAddr& client, const SockAddr& backend, SockAddr* source);

// Marks `fd` (a fresh inet socket of `source`'s family) transparent and binds it to `source`. With
// `shared`, SO_REUSEADDR first: the racing attempts of one TCP connection all bind the client's
// address and port, and a previous connection's TIME_WAIT must not hold it; the client's own socket
// on this host (a local client) still does, as EADDRINUSE. IP_BIND_ADDRESS_NO_PORT is not used: it
// defers only the choice of an ephemeral port, and here the port is the client's. 0, or an errno
// with *syscall naming the call that failed.
int BindTransparent(int fd, const SockAddr& source, bool shared, const char** syscall);

// 0 when this process may mark sockets transparent (tried on a throwaway socket), else the errno:
// EPERM without CAP_NET_ADMIN or CAP_NET_RAW.
int TransparentAllowed();

}  // namespace sockrelay
