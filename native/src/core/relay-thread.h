// The thread a relay runs on, started the same way for both relays.
#pragma once
#include <pthread.h>

namespace sockrelay {

class RelayThread {
 public:
  RelayThread() = default;
  RelayThread(const RelayThread&) = delete;
  RelayThread& operator=(const RelayThread&) = delete;

  // Runs body(arg) on a new thread named `name` (15 characters at most, for top and gdb). Every
  // signal is blocked on it: signals belong to Node's main thread, and the relay would only ever see
  // them as EINTR. 0, or the errno of pthread_create.
  int Start(const char* name, void (*body)(void*), void* arg);
  // Waits for the body to return; does nothing when not started. Any thread but this one.
  void Join();
  bool running() const { return running_; }

 private:
  pthread_t thread_{};
  bool running_ = false;
};

}  // namespace sockrelay
