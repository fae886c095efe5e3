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
    : config_(std::move(config)), backends_(config_.backends), counters_(config_.listeners.size()), gate_(config_, events_) {
  for (ListenerCounters& k : counters_) {
    if (!config_.connectBounds.empty()) k.connectTime = std::make_unique<Histogram>(config_.connectBounds);
    if (!config_.durationBounds.empty()) k.duration = std::make_unique<Histogram>(config_.durationBounds);
  }
  loop_ = std::make_unique<RelayLoop>(config_, backends_, gate_, events_, counters_, nextId_);
}

RelayCore::~RelayCore() { Shutdown(); }

int RelayCore::Start(const char** syscall) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (started_ || shutdown_) return 0;
  started_ = true;
  int err = loop_->Init(syscall);
  if (err) return err;
  gate_.SetLoop(loop_->epollFd());
  err = neverAccept_ ? 0 : gate_.Open();
  if (err) return *syscall = "epoll_ctl", err;

  // Signals belong to Node's main thread; the loop only ever sees them as EINTR otherwise.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  err = pthread_create(&thread_, nullptr, RunLoop, loop_.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err) {
    gate_.StopAccepting();
    return *syscall = "pthread_create", err;
  }
  running_ = true;
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

int RelayCore::ExportConnections(uint64_t timeoutMs, ExportJob::Done done) {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (exportBusy_->exchange(true)) return EBUSY;
  gate_.StopAccepting();
  auto busy = exportBusy_;
  auto finish = [busy, done = std::move(done)](std::vector<HandedConnection> list) {
    busy->store(false);
    done(std::move(list));
  };
  if (!running_) {
    // Never started (or already shut down): what was adopted goes back untouched.
    std::vector<HandedConnection> adopted = loop_ ? loop_->TakeAdopted() : std::vector<HandedConnection>();
    for (const HandedConnection& h : adopted) {
      counters_[h.listener].active--;
      gate_.Release();
    }
    finish(std::move(adopted));
    return 0;
  }
  loop_->RequestExport(std::make_shared<ExportJob>(timeoutMs, std::move(finish)));
  return 0;
}

void RelayCore::StopThread() {
  if (!running_) return;
  loop_->Stop();
  pthread_join(thread_, nullptr);
  running_ = false;
}

}  // namespace sockrelay
