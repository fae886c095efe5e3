#include "js/stream-handover.h"

#include <cmath>
#include <string>
#include <vector>

#include "js/args.h"
#include "js/errors.h"
#include "js/export-promise.h"

namespace sockrelay {
namespace {

using Handed = std::vector<HandedConnection>;

// From here the fds are JavaScript's.
Napi::Value HandedToJs(Napi::Env env, Handed& list) {
  Napi::Array out = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    HandedConnection& h = list[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("listener", static_cast<double>(h.listener));
    o.Set("clientFd", h.clientFd.release());
    o.Set("backendFd", h.backendFd ? Napi::Value(Napi::Number::New(env, h.backendFd.release())) : env.Null());
    o.Set("bytesIn", Napi::BigInt::New(env, h.bytesIn));
    o.Set("bytesOut", Napi::BigInt::New(env, h.bytesOut));
    o.Set("connectDeadlineMs", static_cast<double>(h.connectDeadlineMs));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// Nobody will own these sockets.
void ResetHanded(Handed& list) { CloseHanded(list, true); }

using ConnectionExportPromise = ExportPromise<HandedConnection, HandedToJs, ResetHanded>;

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
  ConnectionExportPromise exported(env, "sockrelay:exportConnections");
  if (int err = core.ExportConnections(static_cast<uint64_t>(timeoutMs), exported.Done())) {
    exported.Refuse(env, err, "exportConnections");
    return env.Undefined();
  }
  return exported.promise();
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
