#include "stream/connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace sockrelay {

void UsePipes(Connection& c, PipePool* pool) { c.up.pool = c.down.pool = pool; }

namespace {

// Without a pipe, bytes go through this buffer within one call and are never held across calls.
constexpr size_t kCopyChunk = 16384;
thread_local char copyBuffer[kCopyChunk];

// A read that took half the pipe or more is bulk: the pipe grows to --pipe-size, once, so that each
// splice moves more. A pooled pipe keeps what it grew to.
bool IsBulk(const Flow& f, size_t n) { return !f.pipe.grown && n * 2 >= f.pipe.size; }

// Whether the socket's next byte is urgent data (TCP's urgent mark). splice(2) stops there:
// EAGAIN, or 0 once the FIN has come too, which is not the end of the stream. A socket that
// knows no urgent data (EINVAL, ENOTTY) is never at a mark.
bool AtUrgentMark(int fd) {
  int at = 0;
  return ioctl(fd, SIOCATMARK, &at) == 0 && at;
}

void SetOobInline(Socket& s) {
  if (s.oobInline) return;
  int on = 1;
  s.oobInline = setsockopt(s.fd.get(), SOL_SOCKET, SO_OOBINLINE, &on, sizeof on) == 0;
}

// Takes the urgent byte off `from` in its place in the stream. Inline, set only now: with it set a
// plain recv() at the mark returns the urgent byte, where otherwise it would skip it. 1 when the
// byte is held, 0 when there was nothing after all, or -1 with errno.
int TakeUrgent(Flow& f, Socket& from) {
  SetOobInline(from);
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


// One chunk from `from` to `to` for a flow that has no pipe: peeked, sent, and only then taken off
// the source as far as the destination took it, so what it refuses stays in the source socket and
// nothing is held here. Urgent data: a peek at the mark would skip the urgent byte, so the mark is
// asked first, and SO_OOBINLINE makes one that comes in between go out inline rather than be lost.
// 0, or an errno with *failed naming the socket.
int CopyWithoutPipe(Flow& f, Socket& from, Socket& to, Socket** failed, bool* moved) {
  SetOobInline(from);
  if (AtUrgentMark(from.fd.get())) {
    int taken = TakeUrgent(f, from);
    if (taken < 0) return *failed = &from, errno;
    *moved = taken > 0;
    return 0;
  }
  ssize_t n = recv(from.fd.get(), copyBuffer, kCopyChunk, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return f.eof = true, 0;
  if (n < 0) {
    if (errno == EINTR) return 0;
    if (errno != EAGAIN) return *failed = &from, errno;
    from.urgent = false;
    from.readable = false;
    f.peeked = false;
    return 0;
  }
  ssize_t sent = send(to.fd.get(), copyBuffer, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0) {
    if (errno == EAGAIN) return to.writable = false, f.peeked = true, 0;
    if (errno == EINTR) return 0;
    return *failed = &to, errno;
  }
  f.peeked = false;
  // The peeked bytes are still first in the source: this takes exactly those that went out.
  ssize_t taken = recv(from.fd.get(), copyBuffer, sent, MSG_DONTWAIT);
  if (taken != sent) return *failed = &from, taken < 0 ? errno : EIO;
  f.bytes += sent;
  f.total->fetch_add(sent, std::memory_order_relaxed);
  *moved = true;
  return 0;
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
    bool reads = !f.eof && !f.paused && !f.urgentHeld && from.readable;
    // No pipe (budget spent, or no fd for one): the bytes go through user space, one chunk at a time.
    if (reads && !f.pipe && f.pool->Take(&f.pipe) != 0) {
      if (to.writable) {
        int err = CopyWithoutPipe(f, from, to, failed, &moved);
        if (err) return err;
      }
    } else if (reads && f.full < f.pipe.size) {
      ssize_t n = splice(from.fd.get(), nullptr, f.pipe.write.get(), nullptr, f.pipe.size - f.full,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.full += n;
        f.peeked = false;
        moved = true;
        if (IsBulk(f, static_cast<size_t>(n))) f.pool->Grow(f.pipe);
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
      ssize_t n = splice(f.pipe.read.get(), nullptr, to.fd.get(), nullptr, f.full, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
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
  // Emptied: the pipe is the next busy flow's; this one takes one again when it next reads.
  if (f.pipe && f.full == 0) f.pool->Give(std::move(f.pipe));

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
    if (!f->pipe) continue;
    if (f->full == 0) f->pool->Give(std::move(f->pipe));
    else f->pool->Discard(std::move(f->pipe));
  }
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

}  // namespace sockrelay
