#include "relay-common.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace sockrelay {

ErrnoKind ClassifyErrno(int err) {
  switch (err) {
    case EAGAIN:
    case EINTR:
      return ErrnoKind::kTransient;
    case ECONNABORTED:
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENETDOWN:
    case ENETRESET:
    case ENETUNREACH:
    case ENONET:
    case ENOPROTOOPT:
    case ENOTCONN:
    case EPIPE:
    case EPROTO:
    case ESHUTDOWN:
    case ETIMEDOUT:
      return ErrnoKind::kDisconnect;
    default:
      return ErrnoKind::kOther;
  }
}

uint64_t NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

int SafeClose(int fd) {
  if (fd >= 0) close(fd);
  return -1;
}

}  // namespace sockrelay
