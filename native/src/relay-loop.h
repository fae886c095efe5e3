// One epoll thread of the relay engine: accepts from the listeners the gate lets it watch, connects
// to backends (every address, retrying with backoff until the deadline) and shovels bytes.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

#include "relay-common.h"
#include "relay-connection.h"
#include "relay-events.h"
#include "relay-gate.h"

namespace sockrelay {

class RelayLoop {
 public:
  RelayLoop(const RelayConfig& config, AcceptGate& gate, EventSink& events, std::vector<ListenerCounters>& counters,
            std::atomic<uint64_t>& nextId);
  ~RelayLoop();
  RelayLoop(const RelayLoop&) = delete;
  RelayLoop& operator=(const RelayLoop&) = delete;

  // 0, or an errno with *syscall naming the call that failed.
  int Init(const char** syscall);
  int epollFd() const { return epollFd_; }
  // The thread body; returns after Stop(), having reset every connection it owned.
  void Run();
  // Any thread.
  void Stop();

 private:
  void OnListener(size_t listener, uint64_t now);
  void Adopt(int fd, size_t listener, const struct sockaddr_storage& peer, socklen_t peerLen, uint64_t now);
  void OnSocket(Connection* c, bool client, uint32_t events, uint64_t now);
  void Connect(Connection* c, uint64_t now);
  void OnConnectDone(Connection* c, int err, uint64_t now);
  void StartRelay(Connection* c, uint64_t now);
  void Relay(Connection* c, uint64_t now);
  void Fail(Connection* c, int err, const char* syscall, bool client, uint64_t now);
  void ConnectFailed(Connection* c, uint64_t now);
  void Finish(Connection* c, const char* reason, bool reset);
  void SetTimer(Connection* c, uint64_t at);
  void ClearTimer(Connection* c);
  void RunTimers(uint64_t now);
  int Timeout(uint64_t now);
  int Watch(int fd, Connection* c, bool client);

  const RelayConfig& config_;
  AcceptGate& gate_;
  EventSink& events_;
  std::vector<ListenerCounters>& counters_;
  std::atomic<uint64_t>& nextId_;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::atomic<bool> stop_{false};
  uint64_t resumeAt_ = 0;
  uint64_t flushAt_ = UINT64_MAX;
  Connection* connections_ = nullptr;
  std::multimap<uint64_t, Connection*> timers_;
  std::vector<Connection*> closed_;
};

}  // namespace sockrelay
