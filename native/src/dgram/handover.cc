// Handing sessions from one instance to the next. A session is its upstream socket (connected to the
// backend, so its source port is what the backend knows the client by) and two addresses: the client
// it answers and the local address it answers from. Export dups the socket for the fd store and then
// forgets the session without touching the socket; adoption parses the addresses back into the exact
// bytes recvmmsg reports, so the client's next datagram finds the session instead of opening another.
//
// Ownership on adoption: every fd handed in belongs to the relay afterwards, so the caller has one rule
// to follow. A refused one is closed at once, except when it is not the caller's to give: not open,
// the relay's own socket, or an fd already given for another session.
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_set>

#include "core/fd-flags.h"
#include "core/address.h"
#include "core/clock.h"
#include "dgram/relay.h"
#include "dgram/pktinfo.h"

namespace sockrelay {

namespace {

UdpAdoptFailure Invalid(std::string message) {
  UdpAdoptFailure f;
  f.kind = UdpAdoptFailure::Kind::kInvalid;
  f.message = std::move(message);
  return f;
}

UdpAdoptFailure System(int err, const char* syscall) {
  UdpAdoptFailure f;
  f.kind = UdpAdoptFailure::Kind::kSystem;
  f.err = err;
  f.syscall = syscall;
  return f;
}

}  // namespace

int UdpCore::ExportSessions(ExportJob<UdpHandoverSession>::Done done) {
  SessionExport::Job job = exports_.Begin(0, std::move(done));
  if (!job) return EBUSY;
  // A datagram read after the export would open a session nobody hands over.
  StopAccepting();
  if (!thread_.running()) {
    // Never started, or destroyed (nothing left then): nothing else touches the sessions, so what
    // was adopted goes back at once.
    job->Complete(DetachSessions());
  } else {
    exports_.Post(std::move(job));
    loop_.Wake();
  }
  return 0;
}

std::vector<UdpHandoverSession> UdpCore::DetachSessions() {
  std::vector<UdpSession*> all;
  sessions_.ForEach([&all](UdpSession* s) { all.push_back(s); });
  std::vector<UdpHandoverSession> out;
  out.reserve(all.size());
  UdpEvent failed(UdpEvent::Type::kSessionError);
  // Most recently active first: an instance with a lower sessionsMax keeps the liveliest.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    UdpSession* s = *it;
    UniqueFd copy(fcntl(s->fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy) {
      if (failed.count++ == 0) {
        failed.err = errno;
        failed.syscall = "fcntl";
        failed.client = FormatAddress(s->client, true);
      }
      continue;
    }
    UdpHandoverSession h;
    h.fd = std::move(copy);
    h.client = FormatAddress(s->client, true);
    SockAddr source;
    if (UdpReplySource(s->control, s->controlLen, local_, &source)) h.local = FormatAddress(source, true);
    out.push_back(std::move(h));
    // The copy keeps the socket open, and epoll watches open sockets, not fds: unwatch it explicitly.
    loop_.Remove(s->fd.get());
    sessions_.Remove(s);
  }
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  if (failed.count > 0) events_.Push(failed);
  // Released only now, so that the failure is told before the idle it may end in.
  for (size_t i = 0; i < out.size(); i++) gate_.Release();
  return out;
}

std::vector<UdpAdoptFailure> UdpCore::AdoptSessions(const std::vector<UdpAdoptRequest>& requests) {
  std::vector<UdpAdoptFailure> results;
  results.reserve(requests.size());
  std::unordered_set<int> taken;
  sessions_.ForEach([&taken](UdpSession* s) { taken.insert(s->fd.get()); });
  uint64_t now = NowMs();
  for (const UdpAdoptRequest& request : requests) {
    int fd = request.fd;
    UdpAdoptFailure result;
    if (fd == config_.fd) {
      result = Invalid("upstreamFd is the relay's own socket");
    } else if (taken.count(fd) != 0) {
      result = Invalid("upstreamFd " + std::to_string(fd) + " is already given for another session");
    } else {
      result = AdoptOne(request, now);
      bool notOpen = result.kind == UdpAdoptFailure::Kind::kSystem && result.err == EBADF;
      // A refused fd is ours to close, unless it was never open.
      if (result.kind != UdpAdoptFailure::Kind::kNone && !notOpen) UniqueFd refused(fd);
      if (!notOpen) taken.insert(fd);
    }
    if (result.kind == UdpAdoptFailure::Kind::kNone) gate_.AddOpen();
    results.push_back(std::move(result));
  }
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  return results;
}

UdpAdoptFailure UdpCore::AdoptOne(const UdpAdoptRequest& request, uint64_t now) {
  const UdpAdoptRequest& h = request;
  if (!request.invalid.empty()) return Invalid(request.invalid);
  std::string error;
  SockAddr client;
  if (!ParseAddressText(h.client, family_, &client, &error)) return Invalid("client: " + error);
  if (sessions_.Find(client) != nullptr) return Invalid("client " + h.client + " already has a session");
  SockAddr source;
  // A unix socket has one address, so there is no source to pin.
  bool pinned = !h.local.empty() && family_ != AF_UNIX;
  if (pinned && !ParseAddressText(h.local, family_, &source, &error)) return Invalid("local: " + error);

  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(h.fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return System(errno, "getsockopt");
  if (type != SOCK_DGRAM) return Invalid("upstreamFd is not a datagram socket");
  SockAddr backend;
  backend.len = sizeof backend.ss;
  // Unconnected, the socket would take replies from anyone and send nowhere.
  if (getpeername(h.fd, reinterpret_cast<struct sockaddr*>(&backend.ss), &backend.len) < 0) {
    return System(errno, "getpeername");
  }
  if (sessions_.size() >= config_.sessionsMax) {
    UdpAdoptFailure f;
    f.kind = UdpAdoptFailure::Kind::kSessionsMax;
    return f;
  }
  if (int err = SetNonblock(h.fd)) return System(err, "fcntl");
  if (int err = SetCloexec(h.fd)) return System(err, "fcntl");

  UdpSession* s = sessions_.Insert(client, UniqueFd(h.fd), now);
  // Open before this instance started: it counts for its source, over its limits or not.
  if (sources_) sources_->Add(client, now, &s->source);
  s->payloadMax = UdpPayloadMax(backend.family());
  if (pinned) s->controlLen = BuildUdpReplyControlFrom(source, s->control);
  if (int err = loop_.Add(h.fd, EPOLLIN, reinterpret_cast<uintptr_t>(s))) {
    // Refused after all: the caller closes the fd, as for every refusal.
    s->fd.release();
    sessions_.Remove(s);
    return System(err, "epoll_ctl");
  }
  return UdpAdoptFailure{};
}

}  // namespace sockrelay
