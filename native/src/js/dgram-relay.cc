// The UdpRelay class seen from JavaScript: argument checking, the event channel (js/event-channel.h),
// and the counters. The data path itself lives in dgram/ and never touches JavaScript.
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

#include "js/errors.h"
#include "js/event-channel.h"
#include "js/modules.h"
#include "dgram/relay.h"
#include "js/dgram-handover.h"
#include "js/dgram-options.h"

namespace sockrelay {
namespace {

Napi::Object EventToJs(Napi::Env env, const UdpEvent& e) {
  Napi::Object o = Napi::Object::New(env);
  switch (e.type) {
    case UdpEvent::Type::kBusy:
      o.Set("type", "busy");
      break;
    case UdpEvent::Type::kIdle:
      o.Set("type", "idle");
      break;
    case UdpEvent::Type::kDropped:
      o.Set("type", "dropped");
      o.Set("reason", UdpDropReasonName(e.reason));
      o.Set("count", static_cast<double>(e.count));
      if (!e.client.empty()) o.Set("source", e.client);
      break;
    case UdpEvent::Type::kSessionClosed:
      o.Set("type", "session-closed");
      o.Set("client", e.client);
      o.Set("bytesIn", static_cast<double>(e.bytesIn));
      o.Set("bytesOut", static_cast<double>(e.bytesOut));
      o.Set("durationMs", static_cast<double>(e.durationMs));
      o.Set("reason", e.ending);
      break;
    case UdpEvent::Type::kSessionError:
    case UdpEvent::Type::kSocketError:
      o.Set("type", e.type == UdpEvent::Type::kSessionError ? "session-error" : "socket-error");
      if (e.type == UdpEvent::Type::kSessionError) o.Set("client", e.client);
      SetErrorFields(o, e.err, e.syscall, e.count);
      break;
  }
  return o;
}

Napi::Value TakeEvents(Napi::Env env, UdpCore& core) { return EventsToJs(env, core.Take(), EventToJs); }

using Channel = EventChannel<UdpCore, TakeEvents>;

class UdpRelayWrap : public Napi::ObjectWrap<UdpRelayWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpRelay",
                       {InstanceMethod<&UdpRelayWrap::Start>("start"),
                        InstanceMethod<&UdpRelayWrap::Stats>("stats"),
                        InstanceMethod<&UdpRelayWrap::ActiveSessions>("activeSessions"),
                        InstanceMethod<&UdpRelayWrap::TryStop>("tryStop"),
                        InstanceMethod<&UdpRelayWrap::StopAccepting>("stopAccepting"),
                        InstanceMethod<&UdpRelayWrap::ResumeAfterTryStop>("resumeAfterTryStop"),
                        InstanceMethod<&UdpRelayWrap::Destroy>("destroy"),
                        InstanceMethod<&UdpRelayWrap::ExportSessions>("exportSessions"),
                        InstanceMethod<&UdpRelayWrap::AdoptSessions>("adoptSessions")});
  }

  explicit UdpRelayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpRelayWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "UdpRelay(options, onEvents)").ThrowAsJavaScriptException();
      return;
    }
    UdpRelayConfig config;
    std::string error;
    if (!ParseUdpRelayOptions(info[0].As<Napi::Object>(), &config, &error)) {
      Napi::TypeError::New(env, error).ThrowAsJavaScriptException();
      return;
    }
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(config.fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
      SystemError(env, errno, "getsockopt").ThrowAsJavaScriptException();
      return;
    }
    if (type != SOCK_DGRAM) {
      Napi::TypeError::New(env, "fd is not a datagram socket").ThrowAsJavaScriptException();
      return;
    }
    auto core = std::make_shared<UdpCore>(std::move(config));
    const char* syscall = "";
    if (int err = core->Init(&syscall)) {
      SystemError(env, err, syscall).ThrowAsJavaScriptException();
      return;
    }
    events_.Open(env, info[1].As<Napi::Function>(), "sockrelay:UdpRelay", core);
    core->SetNotify(events_.Notifier());
    core_ = std::move(core);
  }

  ~UdpRelayWrap() override { Shutdown(); }

 private:
  void Shutdown() {
    if (!core_) return;
    core_->Shutdown();
    events_.Close();
    core_.reset();
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (!core_) {
      Napi::Error::New(info.Env(), "UdpRelay destroyed").ThrowAsJavaScriptException();
    } else if (int err = core_->Start()) {
      SystemError(info.Env(), err, "pthread_create").ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    Napi::Object dropped = Napi::Object::New(env);
    if (!core_) return env.Null();
    const UdpCounters& c = core_->counters();
    auto num = [](const std::atomic<uint64_t>& a) {
      return static_cast<double>(a.load(std::memory_order_relaxed));
    };
    o.Set("datagramsIn", num(c.datagramsIn));
    o.Set("bytesIn", Napi::BigInt::New(env, c.bytesIn.load(std::memory_order_relaxed)));
    o.Set("datagramsOut", num(c.datagramsOut));
    o.Set("bytesOut", Napi::BigInt::New(env, c.bytesOut.load(std::memory_order_relaxed)));
    o.Set("sessionsActive", num(c.sessionsActive));
    o.Set("sessionsTotal", num(c.sessionsTotal));
    o.Set("sessionsTimedOut", num(c.sessionsTimedOut));
    for (int r = 0; r < kDropReasonCount; r++) dropped.Set(UdpDropReasonName(r), num(c.dropped[r]));
    o.Set("dropped", dropped);
    return o;
  }

  Napi::Value ActiveSessions(const Napi::CallbackInfo& info) {
    double active = core_ ? static_cast<double>(core_->counters().sessionsActive.load()) : 0;
    return Napi::Number::New(info.Env(), active);
  }

  Napi::Value TryStop(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), core_ ? core_->TryStop() : true);
  }

  Napi::Value ResumeAfterTryStop(const Napi::CallbackInfo& info) {
    if (!core_) return info.Env().Undefined();
    if (int err = core_->ResumeAfterTryStop()) {
      SystemError(info.Env(), err, "epoll_ctl").ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (core_) core_->StopAccepting();
    return info.Env().Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value ExportSessions(const Napi::CallbackInfo& info) {
    return UdpExportSessionsToJs(info.Env(), core_.get());
  }

  Napi::Value AdoptSessions(const Napi::CallbackInfo& info) { return UdpAdoptSessionsFromJs(info, core_.get()); }

  std::shared_ptr<UdpCore> core_;
  Channel events_;
};

}  // namespace

void InitUdpRelay(Napi::Env env, Napi::Object exports) { exports.Set("UdpRelay", UdpRelayWrap::Define(env)); }

}  // namespace sockrelay
