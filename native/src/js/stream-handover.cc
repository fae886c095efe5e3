#include "js/stream-handover.h"

#include <cmath>
#include <string>
#include <vector>

#include "js/errors.h"

namespace sockrelay {
namespace {

using Handed = std::vector<HandedConnection>;
void Resolve(Napi::Env env, Napi::Function, Napi::Promise::Deferred* deferred, Handed* list);
// One per export: it lives until the result is delivered, and holds Node up until then.
using ResultFunction = Napi::TypedThreadSafeFunction<Napi::Promise::Deferred, Handed, Resolve>;

void Resolve(Napi::Env env, Napi::Function, Napi::Promise::Deferred* deferred, Handed* list) {
  if (env == nullptr) {
    // Torn down before delivery: nobody will own these sockets.
    CloseHanded(*list, true);
    delete list;
    return;
  }
  // From here the fds are JavaScript's.
  Napi::Array out = Napi::Array::New(env, list->size());
  for (size_t i = 0; i < list->size(); i++) {
    HandedConnection& h = (*list)[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("listener", static_cast<double>(h.listener));
    o.Set("clientFd", h.clientFd.release());
    o.Set("backendFd", h.backendFd.release());
    o.Set("bytesIn", Napi::BigInt::New(env, h.bytesIn));
    o.Set("bytesOut", Napi::BigInt::New(env, h.bytesOut));
    out.Set(static_cast<uint32_t>(i), o);
  }
  delete list;
  deferred->Resolve(out);
}

bool TypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

bool ReadIndex(Napi::Value v, double max, const char* name, double* out) {
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= 0 && d <= max) || d != std::floor(d))
    return TypeError(v.Env(), std::string(name) + " must be an integer from 0 to " +
                                  std::to_string(static_cast<int64_t>(max)));
  *out = d;
  return true;
}

bool ReadCount(Napi::Value v, const char* name, uint64_t* out) {
  if (v.IsBigInt()) {
    bool lossless = false;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)) return *out = static_cast<uint64_t>(d), true;
  }
  return TypeError(v.Env(), std::string(name) + " must be a non-negative bigint");
}

bool ReadListener(Napi::Value v, RelayCore& core, double* out) {
  double lastListener = static_cast<double>(core.config().listeners.size()) - 1;
  if (lastListener < 0) return TypeError(v.Env(), "the engine has no listener");
  return ReadIndex(v, lastListener, "listener", out);
}

void ThrowRefused(Napi::Env env, int err, const char* syscall, const char* why) {
  Napi::Error error = SystemError(env, err, syscall);
  error.Set("message", Napi::String::New(env, error.Message() + why));
  error.ThrowAsJavaScriptException();
}

}  // namespace

Napi::Value ExportConnectionsJs(const Napi::CallbackInfo& info, RelayCore& core) {
  Napi::Env env = info.Env();
  double timeoutMs;
  if (!ReadIndex(info[0], 1e12, "timeoutMs", &timeoutMs)) return env.Undefined();
  auto* deferred = new Napi::Promise::Deferred(env);
  Napi::Promise promise = deferred->Promise();
  ResultFunction result = ResultFunction::New(
      env, "sockrelay:exportConnections", 0, 1, deferred,
      [](Napi::Env, void*, Napi::Promise::Deferred* d) { delete d; });
  int err = core.ExportConnections(static_cast<uint64_t>(timeoutMs), [result](Handed list) {
    auto* data = new Handed(std::move(list));
    if (result.NonBlockingCall(data) != napi_ok) {
      CloseHanded(*data, true);
      delete data;
    }
    result.Release();
  });
  if (err) {
    result.Release();
    ThrowRefused(env, err, "exportConnections", ": an export is already under way");
    return env.Undefined();
  }
  return promise;
}

Napi::Value AdoptConnectionJs(const Napi::CallbackInfo& info, RelayCore& core) {
  Napi::Env env = info.Env();
  double listener, clientFd, backendFd;
  HandedConnection h;
  if (!ReadListener(info[0], core, &listener) ||
      !ReadIndex(info[1], INT32_MAX, "clientFd", &clientFd) ||
      !ReadIndex(info[2], INT32_MAX, "backendFd", &backendFd) || !ReadCount(info[3], "bytesIn", &h.bytesIn) ||
      !ReadCount(info[4], "bytesOut", &h.bytesOut))
    return env.Undefined();
  if (clientFd == backendFd) return TypeError(env, "clientFd and backendFd must differ"), env.Undefined();
  h.listener = static_cast<size_t>(listener);
  h.clientFd.reset(static_cast<int>(clientFd));
  h.backendFd.reset(static_cast<int>(backendFd));
  int err = core.AdoptConnection(std::move(h));
  if (err) {
    // Refused: the fds stay the caller's.
    h.clientFd.release();
    h.backendFd.release();
    ThrowRefused(env, err, "adoptConnection", ": connections are adopted before start()");
  }
  return env.Undefined();
}

Napi::Value AdoptClientJs(const Napi::CallbackInfo& info, RelayCore& core) {
  Napi::Env env = info.Env();
  double listener, clientFd;
  if (!ReadListener(info[0], core, &listener) || !ReadIndex(info[1], INT32_MAX, "clientFd", &clientFd))
    return env.Undefined();
  // From here the fd is the engine's, refused or not: it closes it then.
  int err = core.AdoptClient(static_cast<size_t>(listener), UniqueFd(static_cast<int>(clientFd)));
  if (err) ThrowRefused(env, err, "adoptClient", ": clients are adopted before start()");
  return env.Undefined();
}

}  // namespace sockrelay
