#include "stream/connection.h"

#include <fcntl.h>
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
  // Over /proc/sys/fs/pipe-max-size or the per-user pipe quota this fails: keep the pipe as it is.
  if (size > 0) fcntl(f.pipe[0].get(), F_SETPIPE_SZ, size);
  int actual = fcntl(f.pipe[0].get(), F_GETPIPE_SZ);
  if (actual <= 0) return errno;
  f.size = static_cast<size_t>(actual);
  return 0;
}

}  // namespace

int OpenPipes(Connection& c, int size) {
  int err = OpenPipe(c.up, size);
  return err ? err : OpenPipe(c.down, size);
}

int Shovel(Flow& f, Socket& from, Socket& to, Socket** failed, bool* active) {
  bool moved;
  do {
    moved = false;
    if (!f.eof && !f.paused && f.full < f.size && from.readable) {
      ssize_t n = splice(from.fd.get(), nullptr, f.pipe[1].get(), nullptr, f.size - f.full, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.full += n;
        moved = true;
      } else if (n == 0) {
        f.eof = true;
      } else if (errno == EAGAIN) {
        // With bytes in the pipe, EAGAIN may mean the pipe ran out of slots, not the socket of data.
        if (f.full == 0) from.readable = false;
      } else if (errno != EINTR) {
        *failed = &from;
        return errno;
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

  if (f.eof && f.full == 0 && !f.shut) {
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
