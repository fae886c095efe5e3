// RelayEngine as JavaScript sees it: validates options, owns the core, delivers events in batches
// through js/event-channel.h. The function holds the JS callback, and through it the engine, so a
// running engine is never collected before destroy().
#include <memory>
#include <string>

#include "js/address.h"
#include "js/errors.h"
#include "js/args.h"
#include "js/event-channel.h"
#include "js/relay-handle.h"
#include "js/modules.h"
#include "stream/pipe-pool.h"
#include "stream/relay.h"
#include "js/stream-handover.h"
#include "js/stream-options.h"

namespace sockrelay {
namespace {


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
                                       "connection-error", "refused"};
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
    case RelayEventRecord::Type::kRefused:
      o.Set("listener", e.listener);
      o.Set("reason", e.reason);
      o.Set("source", e.peer);
      o.Set("count", static_cast<double>(e.count));
      break;
    default:
      o.Set("listener", e.listener);
      SetErrorFields(o, e.err, e.syscall, e.count);
      break;
  }
  return o;
}

Napi::Value TakeEvents(Napi::Env env, RelayCore& core) { return EventsToJs(env, core.events().Take(), EventToJs); }


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
      Throw(ArgTypeError(env, "onEvents must be a function"));
      return;
    }
    relay_.Open(env, info[1].As<Napi::Function>(), "sockrelay:RelayEngine", std::make_shared<RelayCore>(std::move(config)));
  }

  ~RelayEngine() override { relay_.Destroy(); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    RelayCore* core = relay_.Live(info.Env(), "start");
    const char* syscall = "";
    if (!core) return info.Env().Undefined();
    if (int err = core->Start(&syscall)) SystemError(info.Env(), err, syscall).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    RelayCore* core = relay_.core();
    if (!core) return out;
    out.Set("active", core->gate().open());
    const auto& counters = core->counters();
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
      l.Set("refusedPerSource", static_cast<double>(k.refusedPerSource));
      l.Set("refusedPerSourceRate", static_cast<double>(k.refusedPerSourceRate));
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
    return Napi::Number::New(info.Env(), relay_.destroyed() ? 0 : relay_.core()->gate().open());
  }

  Napi::Value TryStop(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), relay_.destroyed() || relay_.core()->gate().TryStop());
  }

  Napi::Value ResumeAfterTryStop(const Napi::CallbackInfo& info) {
    if (relay_.destroyed()) return info.Env().Undefined();
    if (int err = relay_.core()->gate().ResumeAfterTryStop()) {
      SystemError(info.Env(), err, "epoll_ctl").ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (!relay_.destroyed()) relay_.core()->StopAccepting();
    return info.Env().Undefined();
  }

  Napi::Value ExportConnections(const Napi::CallbackInfo& info) {
    if (!relay_.core()) return info.Env().Undefined();
    return ExportConnectionsJs(info, *relay_.core());
  }

  Napi::Value AdoptConnection(const Napi::CallbackInfo& info) {
    RelayCore* core = relay_.Live(info.Env(), "adoptConnection");
    return core ? AdoptConnectionJs(info, *core) : info.Env().Undefined();
  }

  Napi::Value AdoptClient(const Napi::CallbackInfo& info) {
    RelayCore* core = relay_.Live(info.Env(), "adoptClient");
    return core ? AdoptClientJs(info, *core) : info.Env().Undefined();
  }

  // setBackendAddresses(index, addresses): the addresses the next connects to backend `index` try.
  Napi::Value SetBackendAddresses(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RelayCore* core = relay_.Live(env, "setBackendAddresses");
    if (!core) return env.Undefined();
    BackendTable& table = core->backends();
    double index;
    if (!ReadInteger(info[0], "index", 0, static_cast<double>(table.size()) - 1, &index)) return env.Undefined();
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0)
      return Throw(ArgValueError(env, "addresses must be a non-empty array of addresses")), env.Undefined();
    Napi::Array list = info[1].As<Napi::Array>();
    BackendTable::Addresses addresses(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
      std::string error;
      if (!ReadAddress(list.Get(i), 1, &addresses[i], &error))
        return Throw(ArgValueError(env, "addresses[" + std::to_string(i) + "]: " + error)), env.Undefined();
    }
    table.Set(static_cast<size_t>(index), std::move(addresses));
    return env.Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    relay_.Destroy();
    return info.Env().Undefined();
  }

  RelayHandle<RelayCore, TakeEvents> relay_;
};

}  // namespace

void InitRelayEngine(Napi::Env env, Napi::Object exports) { exports.Set("RelayEngine", RelayEngine::Define(env)); }

}  // namespace sockrelay
