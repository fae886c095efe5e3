// The epoll thread of the relay engine: accepts from the listeners the gate lets it watch, connects
// to backends (every address, retrying with backoff until the deadline) and shovels bytes.
//
// Its methods live in three files: loop.cc (the loop, accept and relaying), connect.cc (connecting
// and the timers) and handover.cc (export and adopt).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/event-loop.h"
#include "core/source-table.h"
#include "core/stop-gate.h"
#include "stream/backend-table.h"
#include "stream/connection.h"
#include "stream/events.h"
#include "stream/handover.h"
#include "stream/options.h"
#include "stream/pipe-pool.h"
#include "stream/spin-policy.h"

namespace sockrelay {

class RelayLoop {
 public:
  // `sources` (null: no per-source limits) is the loop's alone once its thread runs.
  RelayLoop(const RelayConfig& config, const BackendTable& backends, StopGate& gate, SourceTable* sources,
            RelayEventSink& events, std::vector<ListenerCounters>& counters, std::atomic<uint64_t>& nextId,
            ConnectionExport& exports);
  ~RelayLoop();
  RelayLoop(const RelayLoop&) = delete;
  RelayLoop& operator=(const RelayLoop&) = delete;

  // 0, or an errno with *syscall naming the call that failed.
  int Init(const char** syscall);
  int epollFd() const { return loop_.fd(); }
  // Before the thread starts: a connection handed over by a previous instance, relayed from Run() on.
  // The loop owns its fds from here; the caller has already counted it as open.
  void AddAdopted(HandedConnection handed);
  // Before the thread starts: a client accepted elsewhere, admitted from Run() on as if accepted here.
  // The caller has already counted it as open at the gate.
  void AddClient(AcceptedClient client);
  // Before the thread starts: gives back what AddAdopted() took.
  std::vector<HandedConnection> TakeAdopted();
  // epoll data of a listener: its index, tagged so the loop can tell it from a connection.
  static constexpr uint64_t kListenerTag = 1;

  // The thread body; returns after Stop(), having reset every connection it owned.
  void Run();
  // Any thread.
  void Stop();
  // Any thread: starts `job`. The loop completes it, even when stopped first.
  void RequestExport(ConnectionExport::Job job);

 private:
  int Spin(struct epoll_event* events, uint32_t us);
  void OnListener(size_t listener, uint64_t now);
  // A client accepted here or elsewhere: counted for its listener, connected within the connect timeout.
  void Admit(UniqueFd fd, size_t listener, const SockAddr& peer, uint64_t now, SourceTicket source = {});
  // Opens a client's connection: PROXY header built, client watched, backend connected by c->deadline.
  void Open(Connection* c, const SockAddr& peer, uint64_t now);
  void Refuse(UniqueFd fd, size_t listener, const SockAddr& peer, SourceVerdict verdict, uint64_t now);
  Connection* Link(size_t listener);
  void OnSocket(Connection* c, bool client, uint32_t events, uint64_t now);
  void Connect(Connection* c, uint64_t now);
  const BackendTable::Addresses& BackendOf(const Connection* c);
  // False when the connection cannot be made by any retry (its transparent bind was refused).
  bool StartAttempt(Connection* c, const SockAddr& address, const SockAddr* transparentClient);
  bool TransparentClient(Connection* c, const BackendTable::Addresses& addresses, SockAddr* client);
  void GiveUp(Connection* c, uint64_t now);
  void OnAttempt(Attempt* a, uint32_t events, uint64_t now);
  void OnConnectDone(Connection* c, Attempt* a, int err, uint64_t now);
  void CloseAttempts(Connection* c);
  void StartRelay(Connection* c, uint64_t now);
  void Relay(Connection* c, uint64_t now);
  void Fail(Connection* c, int err, const char* syscall, bool client, uint64_t now);
  void ConnectFailed(Connection* c, uint64_t now);
  void Finish(Connection* c, const char* reason, bool reset);
  void Unlink(Connection* c);
  void SetTimer(Connection* c, uint64_t at);
  void ClearTimer(Connection* c);
  void RunTimers(uint64_t now);
  void SweepIdle(uint64_t now);
  int Timeout(uint64_t now);
  int Watch(int fd, Connection* c, bool client);
  int Rewatch(Connection* c, bool client);
  int WatchAttempt(Attempt* a);
  void StartAdopted(uint64_t now);
  void ResumeConnecting(HandedConnection& handed, uint64_t now);
  void AdmitClients(uint64_t now);
  int Prepare(Connection* c, const char** syscall);
  void UnwatchAdopted(Connection& c, bool reset);
  void BeginExport(uint64_t now);
  void Detach(Connection* c, uint64_t now);
  void DetachConnecting(Connection* c, uint64_t now);
  void EndExport(uint64_t now);

  const RelayConfig& config_;
  const BackendTable& backends_;
  // This loop's copy of backends_, and the version it is.
  BackendTable::Snapshot backendLists_;
  uint64_t backendsVersion_ = UINT64_MAX;
  StopGate& gate_;
  SourceTable* const sources_;
  RelayEventSink& events_;
  std::vector<ListenerCounters>& counters_;
  std::atomic<uint64_t>& nextId_;
  EventLoop loop_;
  SpinPolicy spin_;
  // This thread's share of config_.pipesMax.
  PipePool pipes_;
  // Bytes relayed this round, either way, over all connections: whether the next wait polls first.
  uint64_t roundBytes_ = 0;
  std::atomic<bool> stop_{false};
  uint64_t resumeAt_ = 0;
  uint64_t flushAt_ = UINT64_MAX;
  // With an idle timeout: when the connections are next checked, and how often.
  uint64_t sweepAt_ = 0;
  uint64_t sweepEveryMs_ = 0;
  Connection* connections_ = nullptr;
  std::multimap<uint64_t, Connection*> timers_;
  std::vector<Connection*> closed_;
  std::vector<HandedConnection> adopted_;
  std::vector<AcceptedClient> clients_;

  // An export asked for by another thread, and the one in progress on this thread.
  ConnectionExport& exports_;
  ConnectionExport::Job export_;
  uint64_t exportDeadline_ = 0;
  size_t exporting_ = 0;
  std::vector<HandedConnection> exported_;
};

}  // namespace sockrelay
