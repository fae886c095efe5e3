// The one way both relays talk to JavaScript: a thread-safe function per relay.
//
// A relay thread queues events in its core and calls Notify(); the function then runs on the JS
// thread, takes everything queued and calls the listener once. Two promises hold for both relays:
// - an exception thrown by the listener reaches process 'uncaughtException' (Node 20 would only
//   warn, DEP0168, and drop it);
// - the function's finalizer, which Node runs at environment teardown too (a terminated Worker),
//   shuts the core down and joins its threads before the core can be freed.
// The core is shared between the wrapping object and the function, so whichever goes last frees it.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace sockrelay {

// At environment teardown Node still drains the function, when JS can no longer run; node-addon-api
// would make every failing call fatal then, so probe once with plain N-API and drop the batch.
inline bool CanRunJs(napi_env env) {
  napi_value probe, value;
  return napi_create_object(env, &probe) == napi_ok && napi_get_boolean(env, true, &value) == napi_ok &&
         napi_set_named_property(env, probe, "probe", value) == napi_ok;
}

// Calls `listener(events)`; a throw becomes an uncaught exception of the process.
inline void CallListener(napi_env env, napi_value listener, napi_value events) {
  napi_value undefined, result;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, listener, 1, &events, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

// The events as a JS array, each made by `toJs`; an empty value when there are none.
template <typename Event>
Napi::Value EventsToJs(Napi::Env env, const std::vector<Event>& events, Napi::Object (*toJs)(Napi::Env, const Event&)) {
  if (events.empty()) return Napi::Value();
  Napi::Array array = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) array.Set(static_cast<uint32_t>(i), toJs(env, events[i]));
  return array;
}

// Core: has Shutdown() (idempotent, joins the threads). TakeEvents: what is queued, as a JS array, or
// an empty value when nothing is.
template <typename Core, Napi::Value (*TakeEvents)(Napi::Env, Core&)>
class EventChannel {
 public:
  using CorePtr = std::shared_ptr<Core>;

  // Creates the function around `listener`. Unref'd: a relay is never the reason Node stays up.
  void Open(Napi::Env env, Napi::Function listener, const char* name, CorePtr core) {
    auto* context = new Context{std::move(core), finalized_};
    function_ = Function::New(env, listener, name, 0, 1, context, Finalize);
    function_.Unref(env);
    open_ = true;
  }
  // For the core: schedules a delivery; any thread, never blocks.
  std::function<void()> Notifier() const {
    Function function = function_;
    return [function] { function.NonBlockingCall(); };
  }
  // On the JS thread: no call is scheduled after this. Idempotent, and harmless once Node has
  // finalized the function at teardown (the wrapping object may be finalized after it).
  void Close() {
    if (!open_ || *finalized_) return;
    open_ = false;
    function_.Release();
  }

 private:
  struct Context {
    CorePtr core;
    std::shared_ptr<bool> finalized;
  };
  static void Deliver(Napi::Env env, Napi::Function listener, Context* context, void*) {
    if (env == nullptr || listener.IsEmpty() || !CanRunJs(env)) return;
    Napi::Value events = TakeEvents(env, *context->core);
    if (!events.IsEmpty()) CallListener(env, listener, events);
  }
  static void Finalize(Napi::Env, void*, Context* context) {
    // At teardown without destroy(), the threads must stop calling us first.
    context->core->Shutdown();
    *context->finalized = true;
    delete context;
  }
  using Function = Napi::TypedThreadSafeFunction<Context, void, Deliver>;
  Function function_;
  bool open_ = false;
  std::shared_ptr<bool> finalized_ = std::make_shared<bool>(false);
};

}  // namespace sockrelay
