// RelayEngine as JavaScript sees it: validates options, owns the core, delivers events in batches
// through js/event-channel.h. The function holds the JS callback, and through it the engine, so a
// running engine is never collected before destroy().
#include <memory>
#include <string>

#include "js/address.h"
#include "js/errors.h"
#include "js/event-channel.h"
#include "js/modules.h"
#include "stream/pipe-pool.h"
#include "stream/relay.h"
#include "js/stream-handover.h"
#include "js/stream-options.h"

namespace sockrelay {
namespace {


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
      o.Set("durationMs", static_cast<double>(e.durationUs) / 1000.0);
      break;
    default:
      o.Set("listener", e.listener);
      SetErrorFields(o, e.err, e.syscall, e.count);
      break;
  }
  return o;
}

Napi::Value TakeEvents(Napi::Env env, RelayCore& core) { return EventsToJs(env, core.events().Take(), EventToJs); }

using CorePtr = std::shared_ptr<RelayCore>;
using Channel = EventChannel<RelayCore, TakeEvents>;

class RelayEngine : public Napi::ObjectWrap<RelayEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RelayEngine",
                       {InstanceMethod<&RelayEngine::Start>("start"), InstanceMethod<&RelayEngine::Stats>("stats"),
                        InstanceMethod<&RelayEngine::Active>("active"),
                        InstanceMethod<&RelayEngine::TryStop>("tryStop"),
                        InstanceMethod<&RelayEngine::StopAccepting>("stopAccepting"),
                        InstanceMethod<&RelayEngine::ResumeAfterTryStop>("resumeAfterTryStop"),
                        InstanceMethod<&RelayEngine::ExportConnections>("exportConnections"),
                        InstanceMethod<&RelayEngine::AdoptConnection>("adoptConnection"),
                        InstanceMethod<&RelayEngine::AdoptClient>("adoptClient"),
                        InstanceMethod<&RelayEngine::SetBackendAddresses>("setBackendAddresses"),
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
    events_.Open(env, info[1].As<Napi::Function>(), "sockrelay:RelayEngine", core_);
    core_->events().SetNotify(events_.Notifier());
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
    // The process's, which is also this engine's while it is the only one.
    PipeCounts pipes = ProcessPipeCounts();
    out.Set("pipesInUse", static_cast<double>(pipes.inUse));
    out.Set("pipesPooled", static_cast<double>(pipes.pooled));
    return out;
  }

  Napi::Value Active(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), core_ ? core_->gate().open() : 0);
  }

  Napi::Value TryStop(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), core_ ? core_->gate().TryStop() : true);
  }

  Napi::Value ResumeAfterTryStop(const Napi::CallbackInfo& info) {
    if (!core_) return info.Env().Undefined();
    if (int err = core_->gate().ResumeAfterTryStop()) {
      SystemError(info.Env(), err, "epoll_ctl").ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (core_) core_->StopAccepting();
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

  Napi::Value AdoptClient(const Napi::CallbackInfo& info) {
    if (!core_ || released_) return Invalid(info.Env(), "the engine was destroyed"), info.Env().Undefined();
    return AdoptClientJs(info, *core_);
  }

  // setBackendAddresses(index, addresses): the addresses the next connects to backend `index` try.
  Napi::Value SetBackendAddresses(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!core_ || released_) return Invalid(env, "the engine was destroyed"), env.Undefined();
    BackendTable& table = core_->backends();
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0 ||
        info[0].As<Napi::Number>().DoubleValue() >= static_cast<double>(table.size()) ||
        info[0].As<Napi::Number>().DoubleValue() != info[0].As<Napi::Number>().Uint32Value())
      return Invalid(env, "index must be the index of a backend"), env.Undefined();
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0)
      return Invalid(env, "addresses must be a non-empty array of addresses"), env.Undefined();
    Napi::Array list = info[1].As<Napi::Array>();
    BackendTable::Addresses addresses(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
      std::string error;
      if (!ReadAddress(list.Get(i), 1, &addresses[i], &error))
        return Invalid(env, "addresses[" + std::to_string(i) + "]: " + error), env.Undefined();
    }
    table.Set(info[0].As<Napi::Number>().Uint32Value(), std::move(addresses));
    return env.Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  void Release() {
    if (!core_ || released_) return;
    released_ = true;
    core_->Shutdown();
    events_.Close();
  }

  CorePtr core_;
  Channel events_;
  bool released_ = false;
};

}  // namespace

void InitRelayEngine(Napi::Env env, Napi::Object exports) { exports.Set("RelayEngine", RelayEngine::Define(env)); }

}  // namespace sockrelay
