// The one owner of a file descriptor: move-only, closed by its destructor. A double close or an fd
// leaked on an early return does not compile; every close() of the addon happens in this file.
#pragma once
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/abort-on-close.h"

namespace sockrelay {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Close(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives the fd up without closing it: to JavaScript, or to another owner.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    Close();
    fd_ = fd;
  }
  // Closes now; 0 or the errno of close(). EINTR still released the fd on Linux: never retried.
  int Close() {
    if (fd_ < 0) return 0;
    int rc = ::close(std::exchange(fd_, -1));
    return rc < 0 && errno != EINTR ? errno : 0;
  }
  // Closes so that the peer sees a reset (RST) instead of an orderly FIN.
  void Reset() {
    if (fd_ < 0) return;
    AbortOnClose(fd_, true);
    Close();
  }

 private:
  int fd_ = -1;
};

}  // namespace sockrelay
