#include "sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

namespace sockrelay {

std::string FormatSockaddr(const struct sockaddr_storage& addr, socklen_t len) {
  char host[INET6_ADDRSTRLEN];
  switch (addr.ss_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const struct sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const struct sockaddr_un*>(&addr);
      size_t pathLen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
      if (pathLen == 0) return "";
      if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, pathLen - 1);
      return std::string(un->sun_path, strnlen(un->sun_path, pathLen));
    }
    default:
      return "";
  }
}

}  // namespace sockrelay
