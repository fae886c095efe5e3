// The UDP relay's data path: one epoll thread that moves datagrams between the inherited socket and
// the per-client upstream sockets with recvmmsg/sendmmsg, and never calls into JavaScript. Counters are
// atomics read on demand; events queue in the sink until Take(). The thread, the stop gate and the
// event sink are the ones the stream relay runs on (core/).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <vector>

#include "core/close-reason.h"
#include "core/event-loop.h"
#include "core/proxy-header.h"
#include "core/relay-thread.h"
#include "core/source-table.h"
#include "core/stop-gate.h"
#include "core/unique-fd.h"
#include "dgram/events.h"
#include "dgram/handover.h"
#include "dgram/loop-guard.h"
#include "dgram/session-table.h"

namespace sockrelay {

struct UdpRelayConfig {
  int fd = -1;  // the inherited datagram socket; the core owns it once Init() succeeds
  std::vector<SockAddr> backends;
  uint64_t sessionTimeoutMs = 30000;  // 0: sessions never time out
  size_t sessionsMax = 4096;
  bool proxyV2 = false;  // prepend a PROXY protocol v2 header to every client → backend datagram
  bool sessionEvents = false;  // a kSessionClosed event per ended session (for the access log)
  bool transparent = false;  // upstream sockets bound to the client's address and port (core/transparent.h)
  SourceLimits sources;  // per-source admission of new sessions (core/source-table.h); off unless set
};

struct UdpCounters {
  std::atomic<uint64_t> datagramsIn{0};  // client → backend, sent
  std::atomic<uint64_t> bytesIn{0};
  std::atomic<uint64_t> datagramsOut{0};  // backend → client, sent
  std::atomic<uint64_t> bytesOut{0};
  std::atomic<uint64_t> sessionsActive{0};
  std::atomic<uint64_t> sessionsTotal{0};
  std::atomic<uint64_t> sessionsTimedOut{0};
  std::atomic<uint64_t> dropped[kDropReasonCount] = {};
};

struct UdpBatch;

class UdpCore {
 public:
  explicit UdpCore(UdpRelayConfig config);
  ~UdpCore();
  UdpCore(const UdpCore&) = delete;
  UdpCore& operator=(const UdpCore&) = delete;

  // Makes the socket nonblocking, asks for packet info, sets up epoll. On success the core owns the
  // fd; on failure returns an errno and the syscall that failed, and the fd is left to the caller.
  int Init(const char** syscall);
  // `notify` runs (on any thread, never blocking) when events wait for Take() where none did.
  void SetNotify(std::function<void()> notify) { events_.SetNotify(std::move(notify)); }
  std::vector<UdpEvent> Take() { return events_.Take(); }
  int Start();
  // Stops reading the inherited socket if no session is open, atomically with session creation.
  bool TryStop() { return gate_.TryStop(); }
  // Undoes a TryStop() that succeeded, unless StopAccepting() came since: the idle exit stops every
  // source or none. 0 or the errno of epoll_ctl.
  int ResumeAfterTryStop() { return gate_.ResumeAfterTryStop(); }
  // Stops reading the inherited socket: later datagrams stay queued for the next instance, while open
  // sessions still carry replies back until they time out.
  void StopAccepting() { gate_.StopAccepting(); }
  // Joins the thread and closes every socket, the inherited one included. Idempotent; JS thread.
  void Shutdown();
  const UdpCounters& counters() const { return counters_; }
  bool started() const { return thread_.running(); }

  // Handover (dgram/handover.cc). Stops accepting, then detaches every session on the relay's thread,
  // most recently active first: each leaves as a dup of its upstream socket with its addresses, and
  // the relay closes its own copy without a word to the backend. A session whose socket cannot be
  // dup'd stays, to end as before. `done` runs exactly once, on some thread, with the detached ones.
  // 0, or EBUSY while another export runs.
  int ExportSessions(ExportJob<UdpHandoverSession>::Done done);
  // Before Start(): resumes sessions a previous instance exported, as if their clients had just sent.
  // Returns one result per request, Kind::kNone for each adopted session.
  std::vector<UdpAdoptFailure> AdoptSessions(const std::vector<UdpAdoptRequest>& requests);

 private:
  static void ThreadMain(void* self);
  void Run();
  void OnListenReadable(uint64_t now);
  void ForwardToBackend(int k, uint64_t now);
  // send() of one client datagram, behind a PROXY v2 header when configured; -1 with errno on failure.
  ssize_t SendUpstream(UdpSession* s, const struct msghdr& received, const SockAddr& client, void* payload,
                       size_t length);
  void OnUpstreamReadable(UdpSession* s, uint64_t now);
  uint64_t SendToClient(int count);  // returns the bytes sent
  UdpSession* OpenSession(const SockAddr& client, uint64_t now);
  void CloseSession(UdpSession* s, const char* ending = close_reason::kBackendError);
  int WatchSocket(bool on);
  int Housekeep(uint64_t now);
  void Drop(int reason, uint64_t count = 1);
  // One adoption: checks, in this order, that the request names a socket the relay may take, that its
  // addresses parse, that the socket is a connected datagram socket, and that a session is free.
  UdpAdoptFailure AdoptOne(const UdpAdoptRequest& request, uint64_t now);
  // The export itself: on the relay's thread, or on the caller's when that thread never ran.
  std::vector<UdpHandoverSession> DetachSessions();

  UdpRelayConfig config_;
  UdpCounters counters_;
  int family_ = 0;
  // getsockname of the inherited socket: the PROXY header's destination, its address replaced by the
  // datagram's IP_PKTINFO destination on a wildcard-bound socket.
  SockAddr local_;
  UniqueFd socket_;
  EventLoop loop_;
  UdpEventSink events_;
  // Reading the inherited socket and creating sessions happen under the gate, so TryStop sees a
  // settled count.
  StopGate gate_;
  RelayThread thread_;
  bool destroyed_ = false;
  std::atomic<bool> stopping_{false};

  // An export the JavaScript thread asked for, carried out by the relay's thread between two
  // rounds, where no lock is needed to touch the sessions.
  SessionExport exports_;

  // The thread's alone once it runs; before, the JavaScript thread's (adoption).
  std::unique_ptr<UdpBatch> batch_;
  unsigned char proxyHeader_[kProxyHeaderMax];
  // Null without per-source limits; declared before sessions_, which releases into it.
  std::unique_ptr<SourceTable> sources_;
  UdpSessionTable sessions_;
  UdpLoopGuard loopGuard_;
  UdpWarnings warnings_{events_};
  uint64_t dropsPending_[kDropReasonCount] = {};
  // The client last refused for a per-source reason, named in that reason's warning.
  SockAddr refused_[kDropReasonCount];
};

}  // namespace sockrelay
