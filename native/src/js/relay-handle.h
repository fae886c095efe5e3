// What both relay wrappers hold: the core, its event channel and the one destroy rule.
//
// destroy() shuts the core down (every connection or session reset, the thread joined, no event
// after it) and keeps it: stats() still reads the last counters, active() is 0 and tryStop() true,
// stopAccepting() and a second destroy() do nothing. What would set work going again (start(),
// adoption, new backend addresses) throws an Error with code ERR_RELAY_DESTROYED.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <utility>

#include "js/event-channel.h"

namespace sockrelay {

// Core: SetNotify(std::function<void()>) and Shutdown() (idempotent, joins the thread).
template <typename Core, Napi::Value (*TakeEvents)(Napi::Env, Core&)>
class RelayHandle {
 public:
  void Open(Napi::Env env, Napi::Function listener, const char* name, std::shared_ptr<Core> core) {
    core_ = std::move(core);
    events_.Open(env, listener, name, core_);
    core_->SetNotify(events_.Notifier());
  }
  // Null only when the constructor threw.
  Core* core() const { return core_.get(); }
  bool destroyed() const { return !core_ || destroyed_; }
  // The core, or null with ERR_RELAY_DESTROYED thrown: for what would set work going again.
  Core* Live(Napi::Env env, const char* what) {
    if (!destroyed()) return core_.get();
    Napi::Error error = Napi::Error::New(env, std::string(what) + ": the relay was destroyed");
    error.Set("code", "ERR_RELAY_DESTROYED");
    error.ThrowAsJavaScriptException();
    return nullptr;
  }
  void Destroy() {
    if (destroyed()) return;
    destroyed_ = true;
    core_->Shutdown();
    events_.Close();
  }

 private:
  std::shared_ptr<Core> core_;
  EventChannel<Core, TakeEvents> events_;
  bool destroyed_ = false;
};

}  // namespace sockrelay
