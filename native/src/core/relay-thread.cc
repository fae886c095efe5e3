#include "core/relay-thread.h"

#include <signal.h>

namespace sockrelay {
namespace {

struct Body {
  void (*run)(void*);
  void* arg;
};

void* Run(void* body) {
  Body b = *static_cast<Body*>(body);
  delete static_cast<Body*>(body);
  b.run(b.arg);
  return nullptr;
}

}  // namespace

int RelayThread::Start(const char* name, void (*body)(void*), void* arg) {
  if (running_) return 0;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  auto* b = new Body{body, arg};
  int err = pthread_create(&thread_, nullptr, Run, b);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err) {
    delete b;
    return err;
  }
  pthread_setname_np(thread_, name);
  running_ = true;
  return 0;
}

void RelayThread::Join() {
  if (!running_) return;
  pthread_join(thread_, nullptr);
  running_ = false;
}

}  // namespace sockrelay
