#include "core/errno-kind.h"

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
      return ErrnoKind::kFatal;
  }
}

}  // namespace sockrelay
