#include "stream/relay.h"

#include <sys/epoll.h>

#include <cerrno>

#include <utility>

namespace sockrelay {
namespace {

void RunLoop(void* loop) { static_cast<RelayLoop*>(loop)->Run(); }

// Puts the listeners into the loop's epoll, or takes them out.
int WatchListeners(const RelayConfig& config, int epollFd, bool on) {
  for (size_t i = 0; i < config.listeners.size(); i++) {
    int fd = config.listeners[i].fd.get();
    if (fd < 0) continue;
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = (static_cast<uint64_t>(i) << 2) | RelayLoop::kListenerTag;
    int r = on ? epoll_ctl(epollFd, EPOLL_CTL_ADD, fd, &ev) : epoll_ctl(epollFd, EPOLL_CTL_DEL, fd, nullptr);
    if (r < 0 && on && errno != EEXIST) return errno;
  }
  return 0;
}

}  // namespace

RelayCore::RelayCore(RelayConfig config)
    : config_(std::move(config)),
      backends_(config_.backends),
      counters_(config_.listeners.size()),
      sources_(config_.sources.enabled()
                   ? std::make_unique<SourceTable>(config_.sources, SourceTableSize(config_.connectionsMax))
                   : nullptr),
      gate_(config_.connectionsMax, [this](bool on) { return WatchListeners(config_, loop_->epollFd(), on); },
            [this](bool busy) { events_.Push({busy ? RelayEventRecord::Type::kBusy : RelayEventRecord::Type::kIdle}); }) {
  for (ListenerCounters& k : counters_) {
    if (!config_.connectBounds.empty()) k.connectTime = std::make_unique<Histogram>(config_.connectBounds);
    if (!config_.durationBounds.empty()) k.duration = std::make_unique<Histogram>(config_.durationBounds);
  }
  loop_ = std::make_unique<RelayLoop>(config_, backends_, gate_, sources_.get(), events_, counters_, nextId_, exports_);
}

RelayCore::~RelayCore() { Shutdown(); }

int RelayCore::Start(const char** syscall) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return 0;
  started_ = true;
  int err = loop_->Init(syscall);
  if (err) return err;
  err = neverAccept_ ? 0 : gate_.Open();
  if (err) return *syscall = "epoll_ctl", err;
  err = thread_.Start("sockrelay-tcp", RunLoop, loop_.get());
  if (err) {
    gate_.StopAccepting();
    return *syscall = "pthread_create", err;
  }
  return 0;
}

void RelayCore::StopAccepting() {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (!started_) neverAccept_ = true;
  gate_.StopAccepting();
}

void RelayCore::Shutdown() {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (shutdown_) return;
  shutdown_ = true;
  events_.Close();
  gate_.StopAccepting();
  StopThread();
  gate_.Shutdown();
  // Adopted by an engine that never started: destroy() resets every open connection.
  loop_.reset();
  // Only now, with the loop's epoll gone: a listener closed while registered there would go on
  // being reported through the other fds of its socket.
  for (RelayConfig::Listener& listener : config_.listeners) listener.fd.Close();
}

int RelayCore::AdoptConnection(HandedConnection&& handed) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return EALREADY;
  // Open from now on, like an accepted connection: tryStop() refuses, busy is emitted.
  counters_[handed.listener].active++;
  loop_->AddAdopted(std::move(handed));
  gate_.AddOpen();
  return 0;
}

int RelayCore::AdoptClient(size_t listener, UniqueFd client) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return EALREADY;
  // Open from now on, as if the gate had accepted it; the loop counts it for its listener.
  loop_->AddClient({listener, std::move(client)});
  gate_.AddOpen();
  return 0;
}

int RelayCore::ExportConnections(uint64_t timeoutMs, ExportJob<HandedConnection>::Done done) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  ConnectionExport::Job job = exports_.Begin(timeoutMs, std::move(done));
  if (!job) return EBUSY;
  gate_.StopAccepting();
  if (!thread_.running()) {
    // Never started (or already shut down): what was adopted goes back untouched.
    std::vector<HandedConnection> adopted = loop_ ? loop_->TakeAdopted() : std::vector<HandedConnection>();
    for (const HandedConnection& h : adopted) {
      counters_[h.listener].active--;
      gate_.Release();
    }
    job->Complete(std::move(adopted));
    return 0;
  }
  loop_->RequestExport(std::move(job));
  return 0;
}

void RelayCore::StopThread() {
  if (!thread_.running()) return;
  loop_->Stop();
  thread_.Join();
}

}  // namespace sockrelay
