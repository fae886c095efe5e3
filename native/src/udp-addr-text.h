// Socket addresses as text and back, for sessions handed from one instance to the next: the text is
// what FormatSockaddr prints (1.2.3.4:5, [::1]:5, /path, @name), plus an IPv6 scope ([fe80::1%2]:5),
// which FormatSockaddr leaves out but a link-local client cannot be reached without.
#pragma once
#include <string>

#include "udp-addr.h"

namespace sockrelay {

std::string FormatUdpAddrText(const UdpAddr& addr);

// Parses `text` as an address of `family` (AF_INET, AF_INET6 or AF_UNIX) into the exact bytes the
// kernel reports for that peer, so the result matches received addresses byte for byte. An inet port
// must be 1-65535: nobody sends from port 0. Returns false with *error on bad input.
bool ParseUdpAddrText(const std::string& text, int family, UdpAddr* out, std::string* error);

}  // namespace sockrelay
