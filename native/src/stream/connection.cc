#include "stream/connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sockrelay {
namespace {

int OpenPipe(Flow& f, int size) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return errno;
  f.pipe[0].reset(fds[0]);
  f.pipe[1].reset(fds[1]);
  int actual = fcntl(f.pipe[0].get(), F_GETPIPE_SZ);
  if (actual <= 0) return errno;
  // A smaller pipe than the kernel's is taken at once; a larger one only once the flow is bulk (Grow).
  if (size > 0 && size < actual) {
    int smaller = fcntl(f.pipe[0].get(), F_SETPIPE_SZ, size);
    if (smaller > 0) actual = smaller;
  }
  f.size = static_cast<size_t>(actual);
  f.grow = size > actual ? static_cast<size_t>(size) : 0;
  return 0;
}

}  // namespace

int OpenPipes(Connection& c, int size) {
  int err = OpenPipe(c.up, size);
  return err ? err : OpenPipe(c.down, size);
}

namespace {

// A read that took half the pipe or more is bulk: the pipe grows to the configured size, once, so
// that each splice moves more. (Measured: 1M pipes cost a fifth less relay CPU per GB than 256K,
// but one stream ran 8-13% slower with them, so --pipe-size stays 256K by default.)
// Only then, because the size counts against the user's pipe quota (fs/pipe-user-pages-soft)
// whether the pipe holds anything or not: past it an unprivileged user's new pipes get two pages.
// Refused there or over pipe-max-size, the pipe stays as it is.
void Grow(Flow& f) {
  int actual = fcntl(f.pipe[0].get(), F_SETPIPE_SZ, static_cast<int>(f.grow));
  if (actual > 0) f.size = static_cast<size_t>(actual);
  f.grow = 0;
}

// Whether the socket's next byte is urgent data (TCP's urgent mark). splice(2) stops there:
// EAGAIN, or 0 once the FIN has come too, which is not the end of the stream. A socket that
// knows no urgent data (EINVAL, ENOTTY) is never at a mark.
bool AtUrgentMark(int fd) {
  int at = 0;
  return ioctl(fd, SIOCATMARK, &at) == 0 && at;
}

// Takes the urgent byte off `from` in its place in the stream. Inline, set only now: with it set a
// plain recv() at the mark returns the urgent byte, where otherwise it would skip it. 1 when the
// byte is held, 0 when there was nothing after all, or -1 with errno.
int TakeUrgent(Flow& f, Socket& from) {
  int inline_ = 1;
  setsockopt(from.fd.get(), SOL_SOCKET, SO_OOBINLINE, &inline_, sizeof inline_);
  ssize_t n = recv(from.fd.get(), &f.urgentByte, 1, MSG_DONTWAIT);
  if (n == 1) return f.urgentHeld = true, 1;
  if (n == 0 || errno == EAGAIN || errno == EINTR) return 0;
  return -1;
}

// Sends the held urgent byte as urgent again, so the peer sees the mark where the sender put it
// (a telnet Synch or an FTP ABOR keeps its meaning). A socket that cannot send urgent data (a unix
// backend on an older kernel) gets the byte inline: late meaning, but never a lost byte. 0, or an errno.
int SendUrgent(Flow& f, Socket& to, bool* moved) {
  ssize_t n = send(to.fd.get(), &f.urgentByte, 1, MSG_OOB | MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == EOPNOTSUPP) n = send(to.fd.get(), &f.urgentByte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == 1) {
    f.urgentHeld = false;
    f.bytes++;
    f.total->fetch_add(1, std::memory_order_relaxed);
    *moved = true;
    return 0;
  }
  if (n < 0 && errno == EAGAIN) return to.writable = false, 0;
  if (n < 0 && errno == EINTR) return 0;
  return n == 0 ? EPIPE : errno;
}

}  // namespace

int Shovel(Flow& f, Socket& from, Socket& to, Socket** failed, bool* active) {
  bool moved;
  do {
    moved = false;
    // The urgent byte goes out once every byte before it has.
    if (f.urgentHeld && f.full == 0 && to.writable) {
      int err = SendUrgent(f, to, &moved);
      if (err) {
        *failed = &to;
        return err;
      }
    }
    if (!f.eof && !f.paused && !f.urgentHeld && f.full < f.size && from.readable) {
      ssize_t n = splice(from.fd.get(), nullptr, f.pipe[1].get(), nullptr, f.size - f.full, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.full += n;
        moved = true;
        if (f.grow && static_cast<size_t>(n) * 2 >= f.size) Grow(f);
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        *failed = &from;
        return errno;
      } else if ((n == 0 || (errno == EAGAIN && from.urgent)) && AtUrgentMark(from.fd.get())) {
        int taken = TakeUrgent(f, from);
        if (taken < 0) {
          *failed = &from;
          return errno;
        }
        moved = taken > 0;
      } else if (n == 0) {
        f.eof = true;
      } else if (errno == EAGAIN) {
        // Not at a mark: EPOLLPRI says when urgent data comes.
        from.urgent = false;
        // With bytes in the pipe, EAGAIN may mean the pipe ran out of slots, not the socket of data.
        if (f.full == 0) from.readable = false;
      }
    }
    if (f.full > 0 && to.writable) {
      ssize_t n = splice(f.pipe[0].get(), nullptr, to.fd.get(), nullptr, f.full, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.full -= n;
        f.bytes += n;
        f.total->fetch_add(n, std::memory_order_relaxed);
        moved = true;
      } else if (n < 0 && errno == EAGAIN) {
        to.writable = false;
      } else if (n == 0 || errno != EINTR) {
        *failed = &to;
        return n == 0 ? EPIPE : errno;
      }
    }
    *active |= moved;
  } while (moved);

  if (f.eof && f.full == 0 && !f.urgentHeld && !f.shut) {
    f.shut = true;
    if (shutdown(to.fd.get(), SHUT_WR) < 0) {
      *failed = &to;
      return errno;
    }
  }
  return 0;
}

int SendHeader(Connection& c) {
  while (c.headerSent < c.header.size() && c.backend.writable) {
    ssize_t n = send(c.backend.fd.get(), c.header.data() + c.headerSent, c.header.size() - c.headerSent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.headerSent += n;
    } else if (n < 0 && errno == EAGAIN) {
      c.backend.writable = false;
    } else if (n == 0 || errno != EINTR) {
      return n == 0 ? EPIPE : errno;
    }
  }
  return 0;
}

void CloseConnection(Connection& c, bool reset) {
  if (reset) {
    c.client.fd.Reset();
    c.backend.fd.Reset();
  }
  c.client.fd.Close();
  c.backend.fd.Close();
  for (Attempt& a : c.attempts) a.fd.Close();
  for (Flow* f : {&c.up, &c.down}) {
    f->pipe[0].Close();
    f->pipe[1].Close();
  }
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

}  // namespace sockrelay
