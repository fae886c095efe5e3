// RelayEngine as JavaScript sees it: validates options, owns the core, delivers events in batches.
//
// The core is shared between this object and the thread-safe function, so whichever goes last
// (a garbage-collected engine, or the function finalized at environment teardown) frees it, and a
// batch of events already queued never reaches a freed core. The function holds the JS callback,
// and through it the engine, so a running engine is never collected before destroy().
#include <memory>
#include <string>

#include "errors.h"
#include "modules.h"
#include "relay-core.h"
#include "relay-handover-js.h"
#include "relay-options.h"

namespace sockrelay {
namespace {

using CorePtr = std::shared_ptr<RelayCore>;
void DeliverEvents(Napi::Env env, Napi::Function callback, CorePtr* core, void* data);
using EventFunction = Napi::TypedThreadSafeFunction<CorePtr, void, DeliverEvents>;

bool Invalid(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

Napi::Value HistogramToJs(Napi::Env env, const Histogram* h) {
  if (!h) return env.Undefined();
  Histogram::Snapshot snapshot = h->Read();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array bounds = Napi::Array::New(env, h->bounds().size());
  for (size_t i = 0; i < h->bounds().size(); i++) bounds.Set(static_cast<uint32_t>(i), h->bounds()[i]);
  Napi::Array counts = Napi::Array::New(env, snapshot.counts.size());
  for (size_t i = 0; i < snapshot.counts.size(); i++)
    counts.Set(static_cast<uint32_t>(i), static_cast<double>(snapshot.counts[i]));
  o.Set("bounds", bounds);
  o.Set("counts", counts);
  o.Set("sum", static_cast<double>(snapshot.sumMicros) / 1e6);
  o.Set("count", static_cast<double>(snapshot.count));
  return o;
}

Napi::Object EventToJs(Napi::Env env, const RelayEventRecord& e) {
  static const char* const kTypes[] = {"busy", "idle", "open", "close", "connect-failed", "accept-error",
                                       "connection-error"};
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", kTypes[static_cast<int>(e.type)]);
  switch (e.type) {
    case RelayEventRecord::Type::kBusy:
    case RelayEventRecord::Type::kIdle:
      break;
    case RelayEventRecord::Type::kOpen:
      o.Set("id", static_cast<double>(e.id));
      o.Set("listener", e.listener);
      o.Set("peer", e.peer);
      break;
    case RelayEventRecord::Type::kClose:
      o.Set("id", static_cast<double>(e.id));
      o.Set("listener", e.listener);
      o.Set("bytesIn", static_cast<double>(e.bytesIn));
      o.Set("bytesOut", static_cast<double>(e.bytesOut));
      o.Set("reason", e.reason);
      break;
    default:
      o.Set("listener", e.listener);
      o.Set("code", ErrnoName(e.err));
      o.Set("errno", -e.err);
      o.Set("syscall", e.syscall);
      o.Set("count", static_cast<double>(e.count));
      break;
  }
  return o;
}

// Node still drains the function at environment teardown, when JS can no longer run; node-addon-api
// would make every failing call fatal then, so probe once with plain N-API and drop the batch.
bool CanRunJs(napi_env env) {
  napi_value probe, value;
  return napi_create_object(env, &probe) == napi_ok && napi_get_boolean(env, true, &value) == napi_ok &&
         napi_set_named_property(env, probe, "probe", value) == napi_ok;
}

void DeliverEvents(Napi::Env env, Napi::Function callback, CorePtr* core, void*) {
  if (env == nullptr || callback.IsEmpty() || !CanRunJs(env)) return;
  std::vector<RelayEventRecord> events = (*core)->events().Take();
  if (events.empty()) return;
  Napi::Array array = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) array.Set(static_cast<uint32_t>(i), EventToJs(env, events[i]));
  napi_value argv[] = {array};
  napi_value result;
  if (napi_call_function(env, env.Undefined(), callback, 1, argv, &result) == napi_pending_exception) {
    // Node 20 would only warn (DEP0168); a listener's throw must reach uncaughtException like any other.
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

class RelayEngine : public Napi::ObjectWrap<RelayEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RelayEngine",
                       {InstanceMethod<&RelayEngine::Start>("start"), InstanceMethod<&RelayEngine::Stats>("stats"),
                        InstanceMethod<&RelayEngine::Active>("active"),
                        InstanceMethod<&RelayEngine::TryStop>("tryStop"),
                        InstanceMethod<&RelayEngine::StopAccepting>("stopAccepting"),
                        InstanceMethod<&RelayEngine::ExportConnections>("exportConnections"),
                        InstanceMethod<&RelayEngine::AdoptConnection>("adoptConnection"),
                        InstanceMethod<&RelayEngine::Destroy>("destroy")});
  }

  explicit RelayEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RelayEngine>(info) {
    Napi::Env env = info.Env();
    RelayConfig config;
    if (!ReadRelayConfig(info[0], &config)) return;
    if (!info[1].IsFunction()) {
      Invalid(env, "onEvents must be a function");
      return;
    }
    core_ = std::make_shared<RelayCore>(std::move(config));
    events_ = EventFunction::New(env, info[1].As<Napi::Function>(), "sockrelay:RelayEngine", 0, 1,
                                 new CorePtr(core_), [](Napi::Env, void*, CorePtr* core) {
                                   // At teardown without destroy(), the loops must stop calling us first.
                                   (*core)->Shutdown();
                                   delete core;
                                 });
    // The engine must never be the reason Node stays up; the caller's own handles decide that.
    events_.Unref(env);
    EventFunction events = events_;
    core_->events().SetNotify([events] { events.NonBlockingCall(); });
  }

  ~RelayEngine() override { Release(); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (!core_ || released_) return Invalid(info.Env(), "the engine was destroyed"), info.Env().Undefined();
    const char* syscall = "";
    int err = core_->Start(&syscall);
    if (err) SystemError(info.Env(), err, syscall).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    if (!core_) return out;
    out.Set("active", core_->gate().open());
    const auto& counters = core_->counters();
    Napi::Array listeners = Napi::Array::New(env, counters.size());
    for (size_t i = 0; i < counters.size(); i++) {
      const ListenerCounters& k = counters[i];
      Napi::Object l = Napi::Object::New(env);
      l.Set("bytesIn", Napi::BigInt::New(env, static_cast<uint64_t>(k.bytesIn)));
      l.Set("bytesOut", Napi::BigInt::New(env, static_cast<uint64_t>(k.bytesOut)));
      l.Set("accepted", static_cast<double>(k.accepted));
      l.Set("active", static_cast<double>(k.active));
      l.Set("failedRefused", static_cast<double>(k.failedRefused));
      l.Set("failedTimeout", static_cast<double>(k.failedTimeout));
      l.Set("failedOther", static_cast<double>(k.failedOther));
      if (k.connectTime) l.Set("connectSeconds", HistogramToJs(env, k.connectTime.get()));
      if (k.duration) l.Set("durationSeconds", HistogramToJs(env, k.duration.get()));
      listeners.Set(static_cast<uint32_t>(i), l);
    }
    out.Set("listeners", listeners);
    return out;
  }

  Napi::Value Active(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_ ? core_->gate().open() : 0);
  }

  Napi::Value TryStop(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), core_ ? core_->gate().TryStop() : true);
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (core_) core_->gate().StopAccepting();
    return info.Env().Undefined();
  }

  Napi::Value ExportConnections(const Napi::CallbackInfo& info) {
    if (!core_) return info.Env().Undefined();
    return ExportConnectionsJs(info, *core_);
  }

  Napi::Value AdoptConnection(const Napi::CallbackInfo& info) {
    if (!core_ || released_) return Invalid(info.Env(), "the engine was destroyed"), info.Env().Undefined();
    return AdoptConnectionJs(info, *core_);
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (!core_ || released_) return;
    released_ = true;
    core_->Shutdown();
    events_.Release();
  }

  CorePtr core_;
  EventFunction events_;
  bool released_ = false;
};

}  // namespace

void InitRelayEngine(Napi::Env env, Napi::Object exports) { exports.Set("RelayEngine", RelayEngine::Define(env)); }

}  // namespace sockrelay
