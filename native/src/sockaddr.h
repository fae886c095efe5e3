// Formatting of socket addresses for logs and fdinfo: 1.2.3.4:80, [::1]:80, /path, @abstract.
#pragma once
#include <sys/socket.h>

#include <string>

namespace sockrelay {
std::string FormatSockaddr(const struct sockaddr_storage& addr, socklen_t len);
}
