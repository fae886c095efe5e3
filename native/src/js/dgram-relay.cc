// The UdpRelay class seen from JavaScript: argument checking, the event channel (js/event-channel.h),
// and the counters. The data path itself lives in dgram/ and never touches JavaScript.
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

#include "core/unique-fd.h"
#include "js/errors.h"
#include "js/args.h"
#include "js/event-channel.h"
#include "js/relay-handle.h"
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

  // Ownership: the fd is the relay's from this call on, taken or refused: when the constructor
  // throws after reading it, it has been closed.
  explicit UdpRelayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpRelayWrap>(info) {
    Napi::Env env = info.Env();
    UdpRelayConfig config;
    UniqueFd given;
    bool read = ReadUdpRelayConfig(info[0], &config);
    if (config.fd >= 0) given.reset(config.fd);
    if (!read) return;
    if (!info[1].IsFunction()) {
      Throw(ArgTypeError(env, "onEvents must be a function"));
      return;
    }
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(config.fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
      int err = errno;
      // Not open: there is nothing of the caller's to close.
      if (err == EBADF) given.release();
      SystemError(env, err, "getsockopt").ThrowAsJavaScriptException();
      return;
    }
    if (type != SOCK_DGRAM) {
      Throw(ArgValueError(env, "fd is not a datagram socket"));
      return;
    }
    auto core = std::make_shared<UdpCore>(std::move(config));
    const char* syscall = "";
    if (int err = core->Init(&syscall)) {
      SystemError(env, err, syscall).ThrowAsJavaScriptException();
      return;
    }
    // The core owns the fd now.
    given.release();
    relay_.Open(env, info[1].As<Napi::Function>(), "sockrelay:UdpRelay", std::move(core));
  }

  ~UdpRelayWrap() override { relay_.Destroy(); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    UdpCore* core = relay_.Live(info.Env(), "start");
    if (!core) return info.Env().Undefined();
    if (int err = core->Start()) SystemError(info.Env(), err, "pthread_create").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    Napi::Object dropped = Napi::Object::New(env);
    if (!relay_.core()) return env.Null();
    const UdpCounters& c = relay_.core()->counters();
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
    double active = relay_.destroyed() ? 0 : static_cast<double>(relay_.core()->counters().sessionsActive.load());
    return Napi::Number::New(info.Env(), active);
  }

  Napi::Value TryStop(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), relay_.destroyed() || relay_.core()->TryStop());
  }

  Napi::Value ResumeAfterTryStop(const Napi::CallbackInfo& info) {
    if (relay_.destroyed()) return info.Env().Undefined();
    if (int err = relay_.core()->ResumeAfterTryStop()) {
      SystemError(info.Env(), err, "epoll_ctl").ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (!relay_.destroyed()) relay_.core()->StopAccepting();
    return info.Env().Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    relay_.Destroy();
    return info.Env().Undefined();
  }

  Napi::Value ExportSessions(const Napi::CallbackInfo& info) {
    return UdpExportSessionsJs(info.Env(), relay_.destroyed() ? nullptr : relay_.core());
  }

  Napi::Value AdoptSessions(const Napi::CallbackInfo& info) {
    UdpCore* core = relay_.Live(info.Env(), "adoptSessions");
    return core ? UdpAdoptSessionsFromJs(info, core) : info.Env().Undefined();
  }

  RelayHandle<UdpCore, TakeEvents> relay_;
};

}  // namespace

void InitUdpRelay(Napi::Env env, Napi::Object exports) { exports.Set("UdpRelay", UdpRelayWrap::Define(env)); }

}  // namespace sockrelay
