// The safety net of a handover: a socket parked in systemd's fd store (or kept across a reload's
// exec) is set to abort when its last holder closes it (SO_LINGER {1, 0}), so that if it is dropped
// there (a stop emptying the store, an overflow, a failed exec) its peer sees a reset and never a
// clean end that would pass a cut stream off as a whole one. Whoever takes it up clears it again.
// The one place SO_LINGER is set: UniqueFd::Reset() (core/unique-fd.h) aborts through it too.
#pragma once

#include <sys/socket.h>

#include <cerrno>

namespace sockrelay {

// 0, or the errno of the setsockopt that failed.
inline int AbortOnClose(int fd, bool on) {
  struct linger linger = {on ? 1 : 0, 0};
  return setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) < 0 ? errno : 0;
}

}  // namespace sockrelay
