#include "js/stream-handover.h"

#include <cmath>
#include <string>
#include <vector>

#include "js/args.h"
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
    o.Set("backendFd", h.backendFd ? Napi::Value(Napi::Number::New(env, h.backendFd.release())) : env.Null());
    o.Set("bytesIn", Napi::BigInt::New(env, h.bytesIn));
    o.Set("bytesOut", Napi::BigInt::New(env, h.bytesOut));
    o.Set("connectDeadlineMs", static_cast<double>(h.connectDeadlineMs));
    out.Set(static_cast<uint32_t>(i), o);
  }
  delete list;
  deferred->Resolve(out);
}

bool ReadListener(Napi::Value v, RelayCore& core, double* out) {
  double lastListener = static_cast<double>(core.config().listeners.size()) - 1;
  if (lastListener < 0) return Throw(ArgValueError(v.Env(), "the engine has no listener"));
  return ReadInteger(v, "listener", 0, lastListener, out);
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
  if (!ReadInteger(info[0], "timeoutMs", 0, 1e12, &timeoutMs)) return env.Undefined();
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

// Ownership: every fd given is the engine's from the call on, taken or refused (a refused one is
// closed here, by its UniqueFd), so the caller never closes one again.
Napi::Value AdoptConnectionJs(const Napi::CallbackInfo& info, RelayCore& core) {
  Napi::Env env = info.Env();
  int clientFd, backendFd;
  if (!ReadFd(info[1], "clientFd", &clientFd)) return env.Undefined();
  HandedConnection h;
  h.clientFd.reset(clientFd);
  // null: still connecting, by its deadline.
  bool connecting = info[2].IsNull();
  if (!connecting) {
    if (!ReadFd(info[2], "backendFd", &backendFd)) return env.Undefined();
    if (clientFd == backendFd) return Throw(ArgValueError(env, "clientFd and backendFd must differ")), env.Undefined();
    h.backendFd.reset(backendFd);
  }
  double listener;
  if (!ReadListener(info[0], core, &listener) || !ReadCount(info[3], "bytesIn", &h.bytesIn) ||
      !ReadCount(info[4], "bytesOut", &h.bytesOut))
    return env.Undefined();
  if (connecting && !ReadCount(info[5], "connectDeadlineMs", &h.connectDeadlineMs)) return env.Undefined();
  h.listener = static_cast<size_t>(listener);
  int err = core.AdoptConnection(std::move(h));
  if (err) ThrowRefused(env, err, "adoptConnection", ": connections are adopted before start()");
  return env.Undefined();
}

Napi::Value AdoptClientJs(const Napi::CallbackInfo& info, RelayCore& core) {
  Napi::Env env = info.Env();
  int clientFd;
  if (!ReadFd(info[1], "clientFd", &clientFd)) return env.Undefined();
  UniqueFd client(clientFd);
  double listener;
  if (!ReadListener(info[0], core, &listener)) return env.Undefined();
  int err = core.AdoptClient(static_cast<size_t>(listener), std::move(client));
  if (err) ThrowRefused(env, err, "adoptClient", ": clients are adopted before start()");
  return env.Undefined();
}

}  // namespace sockrelay
