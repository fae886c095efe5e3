// One relayed connection: its two sockets, a pipe per direction while bytes are in flight
// (stream/pipe-pool.h), and the shovel between them.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/source-table.h"
#include "core/unique-fd.h"
#include "stream/pipe-pool.h"

namespace sockrelay {

struct Socket {
  UniqueFd fd;
  // Sockets are watched edge-triggered, so keep what the kernel last said; reset by each event.
  bool readable = true;
  bool writable = true;
  // May hold urgent data (EPOLLPRI, also seen while connecting): where splice stops short,
  // SIOCATMARK is asked. Urgent data there before the socket was watched is reported by epoll_ctl.
  bool urgent = false;
  // What epoll reports on it besides errors (RelayLoop::Rewatch): input (EPOLLIN, EPOLLPRI,
  // EPOLLRDHUP) not while its flow waits on the destination, output (EPOLLOUT) then only if a write
  // waits on it.
  bool watchingInput = true;
  bool watchingOutput = true;
  // SO_OOBINLINE is set (connection.cc: CopyWithoutPipe, TakeUrgent).
  bool oobInline = false;
};

// One direction: bytes go from a socket into the pipe and from the pipe into the other socket.
struct Flow {
  // Held only while it has bytes in it (full > 0), taken from and given back to `pool`.
  Pipe pipe;
  PipePool* pool = nullptr;
  size_t full = 0;
  // Without a pipe: bytes peeked from the source that the destination would not take; they wait
  // in the source socket, so reading waits on the destination as with a full pipe.
  bool peeked = false;
  bool eof = false;
  bool shut = false;
  // Set while a handover flushes: the pipe still drains, nothing more is read.
  bool paused = false;
  // The urgent byte taken at the mark, waiting to go out as urgent once the pipe has drained;
  // nothing is read while it waits, so it keeps its place in the stream.
  bool urgentHeld = false;
  char urgentByte = 0;
  uint64_t bytes = 0;
  std::atomic<uint64_t>* total = nullptr;
};

struct Connection;

// One connect() to a backend address still in flight. Its epoll data points here, so an event says
// which of the racing attempts answered; the winner's fd moves to Connection::backend but stays
// registered with this address, which then stands for the backend socket.
struct Attempt {
  Connection* owner = nullptr;
  UniqueFd fd;
};

// Connects in flight at once (Happy Eyeballs, RFC 8305): a further address waits for one to end.
constexpr size_t kAttemptsMax = 4;

struct Connection {
  enum class State { kConnecting, kRelaying, kClosed };

  uint64_t id = 0;
  size_t listener = 0;
  uint64_t acceptedUs = 0;
  State state = State::kConnecting;
  Socket client;
  Socket backend;
  Flow up;    // client → backend
  Flow down;  // backend → client
  // NowMs() of the last byte moved either way, for the idle timeout.
  uint64_t lastActive = 0;
  // The PROXY header and how much of it the backend has taken; client bytes wait until it is all sent.
  std::string header;
  size_t headerSent = 0;
  // Handed over by a previous instance: its sockets may have other fds (the fd store's), so closing
  // ours neither removes them from epoll nor sends a FIN by itself.
  bool adopted = false;
  // Being flushed for a handover: detached once the header is sent and both pipes are empty.
  bool exporting = false;
  // Its count at its source's entry, released with its slot at the gate.
  SourceTicket source;

  // The next backend address to try, and the attempts racing (stream/connect.cc).
  size_t address = 0;
  Attempt attempts[kAttemptsMax];
  size_t racing = 0;
  // When connecting gives up (NowMs()); 0: never.
  uint64_t deadline = 0;
  uint64_t backoff = 0;
  int error = 0;
  const char* syscall = "connect";
  bool timed = false;
  std::multimap<uint64_t, Connection*>::iterator timer;

  Connection* prev = nullptr;
  Connection* next = nullptr;
};

// From now on the connection's flows take their pipes from `pool`.
void UsePipes(Connection& c, PipePool* pool);

// Moves bytes until neither side can make progress; *moved is set when any did. 0, or an errno
// with *failed naming the socket.
int Shovel(Flow& f, Socket& from, Socket& to, Socket** failed, bool* moved);

// Sends what is left of the PROXY header on the backend socket. 0 (done, or the socket is full:
// see headerSent), or an errno.
int SendHeader(Connection& c);

// Nothing of the connection is held in user space or in a pipe: its sockets can travel.
inline bool Flushed(const Connection& c) {
  return c.headerSent == c.header.size() && c.up.full == 0 && c.down.full == 0 && !c.up.urgentHeld &&
         !c.down.urgentHeld;
}

// The flow holds bytes (or the urgent byte) the destination will not take now: reading more from
// the source has to wait until it does.
inline bool WaitsOnDestination(const Flow& f, const Socket& to) {
  return (f.full > 0 || f.urgentHeld || f.peeked) && !to.writable;
}

// Closes every fd of the connection (its empty pipes go back to the pool); with `reset`, both peers
// see RST instead of FIN.
void CloseConnection(Connection& c, bool reset);

// SO_ERROR of a socket (reading it clears it).
int SocketError(int fd);

}  // namespace sockrelay
