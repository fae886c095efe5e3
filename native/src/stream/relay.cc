#include "stream/relay.h"

#include <signal.h>

#include <cerrno>

#include <utility>

namespace sockrelay {
namespace {

void* RunLoop(void* loop) {
  static_cast<RelayLoop*>(loop)->Run();
  return nullptr;
}

}  // namespace

RelayCore::RelayCore(RelayConfig config)
    : config_(std::move(config)),
      backends_(config_.backends),
      counters_(config_.listeners.size()),
      sources_(config_.sources.enabled()
                   ? std::make_unique<SourceTable>(config_.sources, SourceTableSize(config_.connectionsMax))
                   : nullptr),
      gate_(config_, events_, sources_.get()) {
  for (ListenerCounters& k : counters_) {
    if (!config_.connectBounds.empty()) k.connectTime = std::make_unique<Histogram>(config_.connectBounds);
    if (!config_.durationBounds.empty()) k.duration = std::make_unique<Histogram>(config_.durationBounds);
  }
}

RelayCore::~RelayCore() { Shutdown(); }

int RelayCore::Start(const char** syscall) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return 0;
  started_ = true;
  for (unsigned i = 0; i < config_.threads; i++) {
    auto loop = std::make_unique<RelayLoop>(config_, backends_, gate_, events_, counters_, nextId_);
    int err = loop->Init(syscall);
    if (err) return err;
    gate_.AddLoop(loop->epollFd());
    loops_.push_back(std::move(loop));
  }
  // Spread over the loops before their threads start, which is all the synchronisation they need.
  for (size_t i = 0; i < adopted_.size(); i++) loops_[i % loops_.size()]->AddAdopted(std::move(adopted_[i]));
  adopted_.clear();
  for (size_t i = 0; i < clients_.size(); i++) loops_[i % loops_.size()]->AddClient(std::move(clients_[i]));
  clients_.clear();
  int err = neverAccept_ ? 0 : gate_.Open();
  if (err) return *syscall = "epoll_ctl", err;

  // Signals belong to Node's main thread; the loops only ever see them as EINTR otherwise.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (auto& loop : loops_) {
    pthread_t thread;
    err = pthread_create(&thread, nullptr, RunLoop, loop.get());
    if (err) break;
    threads_.push_back(thread);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err) {
    gate_.StopAccepting();
    StopThreads();
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
  StopThreads();
  gate_.Shutdown();
  loops_.clear();
  // Adopted by an engine that never started: destroy() resets every open connection.
  CloseHanded(adopted_, true);
  clients_.clear();
}

int RelayCore::AdoptConnection(HandedConnection&& handed) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return EALREADY;
  // Open from now on, like an accepted connection: tryStop() refuses, busy is emitted.
  counters_[handed.listener].active++;
  adopted_.push_back(std::move(handed));
  gate_.AddOpen();
  return 0;
}

int RelayCore::AdoptClient(size_t listener, UniqueFd client) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return EALREADY;
  // Open from now on, as if the gate had accepted it; the loop counts it for its listener.
  clients_.push_back({listener, std::move(client)});
  gate_.AddOpen();
  return 0;
}

int RelayCore::ExportConnections(uint64_t timeoutMs, ExportJob::Done done) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (exportBusy_->exchange(true)) return EBUSY;
  gate_.StopAccepting();
  auto busy = exportBusy_;
  auto finish = [busy, done = std::move(done)](std::vector<HandedConnection> list) {
    busy->store(false);
    done(std::move(list));
  };
  if (threads_.empty()) {
    // Never started (or already shut down): what was adopted goes back untouched.
    for (const HandedConnection& h : adopted_) {
      counters_[h.listener].active--;
      gate_.Release();
    }
    finish(std::exchange(adopted_, {}));
    return 0;
  }
  auto job = std::make_shared<ExportJob>(loops_.size(), timeoutMs, std::move(finish));
  for (auto& loop : loops_) loop->RequestExport(job);
  return 0;
}

void RelayCore::StopThreads() {
  for (size_t i = 0; i < threads_.size(); i++) loops_[i]->Stop();
  for (pthread_t thread : threads_) pthread_join(thread, nullptr);
  threads_.clear();
}

}  // namespace sockrelay
