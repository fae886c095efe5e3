// RelayLoop's side of a handover (see stream/handover.h): detaching flushed connections for the
// next instance, and taking up the ones a previous instance detached.
#include "core/abort-on-close.h"
#include "core/fd-flags.h"
#include "stream/handover.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/address.h"
#include "stream/loop.h"
#include "stream/tune-socket.h"

namespace sockrelay {
namespace {

// Whether our side of a TCP socket has sent its FIN: a previous instance shut it down. Shutting it
// down again is harmless until the peer's FIN has come too; then the socket is closed and
// shutdown() fails with ENOTCONN, which would look like a reset. Unix sockets take a repeated
// shutdown() at any time, and have no TCP_INFO.
bool AlreadyShut(int fd) {
  struct tcp_info info;
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return false;
  switch (info.tcpi_state) {
    case TCP_FIN_WAIT1:
    case TCP_FIN_WAIT2:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
    case TCP_TIME_WAIT:
    case TCP_CLOSE:
      return true;
    default:
      return false;
  }
}

// The client's address, for its open event, its source and its PROXY header; a peer already gone
// reads as an unknown address (the relay then sees the reset itself).
SockAddr PeerOf(int fd) {
  SockAddr peer;
  peer.len = sizeof peer.ss;
  if (getpeername(fd, peer.get(), &peer.len) < 0) peer.len = 0;
  return peer;
}

}  // namespace

void CloseHanded(std::vector<HandedConnection>& list, bool reset) {
  for (HandedConnection& h : list) {
    if (!reset) continue;
    h.clientFd.Reset();
    h.backendFd.Reset();
  }
  list.clear();
}

void RelayLoop::RequestExport(ConnectionExport::Job job) {
  exports_.Post(std::move(job));
  loop_.Wake();
}

void RelayLoop::BeginExport(uint64_t now) {
  export_ = exports_.Take();
  exportDeadline_ = now + export_->timeoutMs();
  std::vector<Connection*> relaying;
  for (Connection *c = connections_, *next; c; c = next) {
    next = c->next;
    if (c->state == Connection::State::kConnecting) {
      DetachConnecting(c, now);
      continue;
    }
    if (c->state != Connection::State::kRelaying) continue;
    c->exporting = true;
    c->up.paused = c->down.paused = true;
    exporting_++;
    relaying.push_back(c);
  }
  // Flushes what the pipes hold now; Relay() detaches each connection as soon as it is empty.
  for (Connection* c : relaying)
    if (c->state == Connection::State::kRelaying) Relay(c, now);
}

void RelayLoop::Detach(Connection* c, uint64_t now) {
  UniqueFd clientFd(fcntl(c->client.fd.get(), F_DUPFD_CLOEXEC, 0));
  UniqueFd backendFd(clientFd ? fcntl(c->backend.fd.get(), F_DUPFD_CLOEXEC, 0) : -1);
  if (!backendFd) {
    // Out of fds: the connection cannot travel, so it stays here and is drained as before.
    int err = errno;
    RelayEventRecord event{RelayEventRecord::Type::kConnectionError};
    event.listener = static_cast<int>(c->listener);
    event.err = err;
    event.syscall = "fcntl";
    PushCoalesced(events_, event, now);
    c->exporting = false;
    c->up.paused = c->down.paused = false;
    exporting_--;
    return Relay(c, now);
  }
  // The dups keep the sockets' open file descriptions, and with them the epoll registrations, alive:
  // without these, epoll would go on reporting events for a freed connection.
  loop_.Remove(c->client.fd.get());
  loop_.Remove(c->backend.fd.get());
  exported_.push_back({c->listener, std::move(clientFd), std::move(backendFd), c->up.bytes, c->down.bytes});
  // Closing our fds (never shutdown()) leaves the sockets to the dups: the peers notice nothing.
  CloseConnection(*c, false);
  counters_[c->listener].active--;
  Unlink(c);
}

void RelayLoop::DetachConnecting(Connection* c, uint64_t now) {
  UniqueFd clientFd(fcntl(c->client.fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!clientFd) {
    // Out of fds: it stays and is connected here, as before the export.
    RelayEventRecord event{RelayEventRecord::Type::kConnectionError};
    event.listener = static_cast<int>(c->listener);
    event.err = errno;
    event.syscall = "fcntl";
    PushCoalesced(events_, event, now);
    return;
  }
  loop_.Remove(c->client.fd.get());
  // Abandoned: none has sent a byte (the header waits for the winner), and the next instance starts
  // its own from the first address. One that connected meanwhile is closed unused.
  CloseAttempts(c);
  HandedConnection handed;
  handed.listener = c->listener;
  handed.clientFd = std::move(clientFd);
  handed.connectDeadlineMs = c->deadline;
  exported_.push_back(std::move(handed));
  // Its bytes wait unread in the client socket, for the next instance to relay.
  CloseConnection(*c, false);
  counters_[c->listener].active--;
  Unlink(c);
}

void RelayLoop::EndExport(uint64_t now) {
  std::vector<Connection*> resumed;
  for (Connection* c = connections_; c; c = c->next) {
    if (!c->exporting) continue;
    c->exporting = false;
    c->up.paused = c->down.paused = false;
    resumed.push_back(c);
  }
  exporting_ = 0;
  ConnectionExport::Job job = std::move(export_);
  job->Complete(std::move(exported_));
  exported_.clear();
  // A peer that was not reading: its connection stays and is drained as if nothing had happened.
  for (Connection* c : resumed)
    if (c->state == Connection::State::kRelaying) Relay(c, now);
}

int RelayLoop::Prepare(Connection* c, const char** syscall) {
  c->adopted = true;
  for (int fd : {c->client.fd.get(), c->backend.fd.get()}) {
    if (int err = SetNonblock(fd)) return *syscall = "fcntl", err;
    // Ours now: closing it ends it the ordinary way again (the store's safety net is off).
    if (int err = AbortOnClose(fd, false)) return *syscall = "setsockopt", err;
  }
  int err = Watch(c->client.fd.get(), c, true);
  if (err == 0) err = Watch(c->backend.fd.get(), c, false);
  if (err) return *syscall = "epoll_ctl", err;
  UsePipes(*c, &pipes_);
  // The FIN already sent stays sent; the EOF that caused it is read again and changes nothing.
  c->up.shut = AlreadyShut(c->backend.fd.get());
  c->down.shut = AlreadyShut(c->client.fd.get());
  return 0;
}

void RelayLoop::UnwatchAdopted(Connection& c, bool reset) {
  for (int fd : {c.client.fd.get(), c.backend.fd.get()}) {
    if (fd < 0) continue;
    // Errors are expected and harmless: a socket not yet watched, or already shut down.
    loop_.Remove(fd);
    if (!reset) shutdown(fd, SHUT_WR);
  }
}

void RelayLoop::AddAdopted(HandedConnection handed) { adopted_.push_back(std::move(handed)); }

std::vector<HandedConnection> RelayLoop::TakeAdopted() { return std::exchange(adopted_, {}); }

void RelayLoop::AddClient(AcceptedClient client) { clients_.push_back(std::move(client)); }

void RelayLoop::AdmitClients(uint64_t now) {
  std::vector<AcceptedClient> clients = std::move(clients_);
  clients_.clear();
  for (AcceptedClient& client : clients) {
    // systemd passes it blocking; accept4() would have made it nonblocking and close-on-exec.
    int fd = client.fd.get();
    int err = SetNonblock(fd);
    if (err == 0) err = SetCloexec(fd);
    if (err != 0) {
      RelayEventRecord event{RelayEventRecord::Type::kConnectionError};
      event.listener = static_cast<int>(client.listener);
      event.err = err;
      event.syscall = "fcntl";
      PushCoalesced(events_, event, now);
      client.fd.Reset();
      gate_.Release();
      continue;
    }
    Admit(std::move(client.fd), client.listener, PeerOf(fd), now);
  }
}

void RelayLoop::StartAdopted(uint64_t now) {
  std::vector<HandedConnection> adopted = std::move(adopted_);
  adopted_.clear();
  for (HandedConnection& h : adopted) {
    if (!h.backendFd) {
      ResumeConnecting(h, now);
      continue;
    }
    Connection* c = Link(h.listener);
    c->client.fd = std::move(h.clientFd);
    c->backend.fd = std::move(h.backendFd);
    // The connection's own counters carry on; the listener's totals count only what moves here.
    c->up.bytes = h.bytesIn;
    c->down.bytes = h.bytesOut;
    c->up.total = &counters_[h.listener].bytesIn;
    c->down.total = &counters_[h.listener].bytesOut;
    c->state = Connection::State::kRelaying;
    c->lastActive = now;
    SockAddr peer = PeerOf(c->client.fd.get());
    // Open before this instance started: it counts for its source like one accepted here.
    if (peer.len > 0 && sources_) sources_->Add(peer, now, &c->source);
    if (config_.connectionEvents) {
      RelayEventRecord event{RelayEventRecord::Type::kOpen};
      event.listener = static_cast<int>(h.listener);
      event.id = c->id;
      event.peer = FormatAddress(peer);
      events_.Push(std::move(event));
    }
    const char* syscall = "";
    int err = Prepare(c, &syscall);
    if (err) {
      Fail(c, err, syscall, false, now);
      continue;
    }
    TuneSocket(c->client.fd.get(), config_.keepaliveMs);
    TuneSocket(c->backend.fd.get(), config_.keepaliveMs);
    Relay(c, now);
  }
}

void RelayLoop::ResumeConnecting(HandedConnection& h, uint64_t now) {
  Connection* c = Link(h.listener);
  c->client.fd = std::move(h.clientFd);
  c->adopted = true;
  // The deadline the client was given by the instance that accepted it.
  c->deadline = h.connectDeadlineMs;
  int fd = c->client.fd.get();
  if (int err = SetNonblock(fd)) return Fail(c, err, "fcntl", true, now);
  // Ours now: closing it ends it the ordinary way again (the store's safety net is off).
  if (int err = AbortOnClose(fd, false)) return Fail(c, err, "setsockopt", true, now);
  // The header is built from it again, as the first instance built it.
  SockAddr peer = PeerOf(fd);
  if (peer.len > 0 && sources_) sources_->Add(peer, now, &c->source);
  Open(c, peer, now);
}

}  // namespace sockrelay
