// fcntl's read-modify-write of the two flags sockrelay sets on fds it did not create itself
// (inherited, handed over, or kept across an exec): one place, so every caller gets it right.
#pragma once

#include <fcntl.h>

#include <cerrno>

namespace sockrelay {

namespace detail {
inline int UpdateFdFlag(int fd, int get, int set, int bit, bool on) {
  int flags = fcntl(fd, get);
  if (flags < 0) return errno;
  int wanted = on ? (flags | bit) : (flags & ~bit);
  if (wanted != flags && fcntl(fd, set, wanted) < 0) return errno;
  return 0;
}
}  // namespace detail

// 0, or the errno of the fcntl that failed.
inline int SetNonblock(int fd, bool on = true) {
  return detail::UpdateFdFlag(fd, F_GETFL, F_SETFL, O_NONBLOCK, on);
}

// 0, or the errno of the fcntl that failed.
inline int SetCloexec(int fd, bool on = true) {
  return detail::UpdateFdFlag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, on);
}

}  // namespace sockrelay
