#include "js/stream-options.h"

#include <cmath>
#include <string>

#include "js/address.h"
#include "js/args.h"
#include "js/source-options.h"

namespace sockrelay {
namespace {

bool Invalid(Napi::Env env, const std::string& message) { return Throw(ArgValueError(env, message)); }

bool ReadInt(Napi::Object o, const char* key, double min, double max, double* out, const std::string& where) {
  return ReadInteger(o.Get(key), where + key, min, max, out);
}

bool ReadOptionalInt(Napi::Object o, const char* key, double min, double max, double* out, const std::string& where) {
  return ReadOptionalInteger(o.Get(key), where + key, min, max, out);
}

bool ReadProxyProtocol(Napi::Object o, int* out, const std::string& where) {
  Napi::Value v = o.Get("proxyProtocol");
  if (v.IsUndefined()) return true;
  std::string version = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (version != "v1" && version != "v2") return Invalid(o.Env(), where + "proxyProtocol must be 'v1' or 'v2'");
  *out = version == "v1" ? 1 : 2;
  return true;
}

bool ReadBounds(Napi::Object o, const char* key, std::vector<double>* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  std::string where = std::string("options.") + key;
  if (!v.IsArray()) return Invalid(o.Env(), where + " must be an array of seconds");
  Napi::Array array = v.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value bound = array.Get(i);
    double d = bound.IsNumber() ? bound.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d > 0 && std::isfinite(d)) || (!out->empty() && d <= out->back()))
      return Invalid(o.Env(), where + " must be finite, positive and ascending");
    out->push_back(d);
  }
  return true;
}

// The ownership rule: every listener fd given is the engine's from the call on, taken or refused,
// so each is taken before anything else is checked, and closed with `config` when a check fails.
// An fd given twice is taken once. A listener whose fd is null or absent never accepts.
void TakeListenerFds(Napi::Object o, RelayConfig* config) {
  Napi::Value listeners = o.Get("listeners");
  if (!listeners.IsArray()) return;
  Napi::Array array = listeners.As<Napi::Array>();
  config->listeners.resize(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    int n;
    if (!item.IsObject() || !IsFd(item.As<Napi::Object>().Get("fd"), &n)) continue;
    bool taken = false;
    for (uint32_t j = 0; j < i; j++) taken = taken || config->listeners[j].fd.get() == n;
    if (!taken) config->listeners[i].fd.reset(n);
  }
}

}  // namespace

bool ReadRelayConfig(Napi::Value value, RelayConfig* config) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) return Throw(ArgTypeError(env, "options must be an object"));
  Napi::Object o = value.As<Napi::Object>();
  TakeListenerFds(o, config);

  Napi::Value backends = o.Get("backends");
  if (!backends.IsArray()) return Invalid(env, "options.backends must be an array");
  Napi::Array backendArray = backends.As<Napi::Array>();
  for (uint32_t i = 0; i < backendArray.Length(); i++) {
    std::string where = "options.backends[" + std::to_string(i) + "]";
    Napi::Value list = backendArray.Get(i);
    if (!list.IsArray() || list.As<Napi::Array>().Length() == 0)
      return Invalid(env, where + " must be a non-empty array of addresses");
    Napi::Array addresses = list.As<Napi::Array>();
    config->backends.emplace_back(addresses.Length());
    for (uint32_t j = 0; j < addresses.Length(); j++) {
      std::string error;
      if (!ReadAddress(addresses.Get(j), 1, &config->backends.back()[j], &error))
        return Invalid(env, where + "[" + std::to_string(j) + "]: " + error);
    }
  }

  Napi::Value listeners = o.Get("listeners");
  if (!listeners.IsArray()) return Invalid(env, "options.listeners must be an array");
  Napi::Array listenerArray = listeners.As<Napi::Array>();
  for (uint32_t i = 0; i < listenerArray.Length(); i++) {
    std::string where = "options.listeners[" + std::to_string(i) + "].";
    Napi::Value item = listenerArray.Get(i);
    if (!item.IsObject()) return Invalid(env, "options.listeners[" + std::to_string(i) + "] must be an object");
    RelayConfig::Listener& listener = config->listeners[i];
    Napi::Value fdValue = item.As<Napi::Object>().Get("fd");
    int fd;
    if (!fdValue.IsNull() && !fdValue.IsUndefined()) {
      if (!ReadFd(fdValue, where + "fd", &fd)) return false;
      if (listener.fd.get() != fd) return Invalid(env, where + "fd is given to another listener too");
    }
    double backend;
    if (!ReadInt(item.As<Napi::Object>(), "backend", 0, static_cast<double>(config->backends.size()) - 1, &backend,
                 where))
      return false;
    listener.backend = static_cast<size_t>(backend);
    if (!ReadProxyProtocol(item.As<Napi::Object>(), &listener.proxyProtocol, where)) return false;
    listener.transparent = item.As<Napi::Object>().Get("transparent").ToBoolean();
  }

  double connectionsMax, pipeSize, connectTimeoutMs, idleTimeoutMs = 0, keepaliveMs = 0, pipesMax = -1;
  if (!ReadInt(o, "connectionsMax", 1, UINT32_MAX, &connectionsMax, "options.") ||
      !ReadInt(o, "pipeSize", 0, INT32_MAX, &pipeSize, "options.") ||
      !ReadInt(o, "connectTimeoutMs", 0, 1e12, &connectTimeoutMs, "options.") ||
      !ReadOptionalInt(o, "connectionIdleTimeoutMs", 0, 1e12, &idleTimeoutMs, "options.") ||
      !ReadOptionalInt(o, "keepaliveMs", 0, 1e12, &keepaliveMs, "options.") ||
      !ReadOptionalInt(o, "pipesMax", 0, UINT32_MAX, &pipesMax, "options."))
    return false;
  config->idleTimeoutMs = static_cast<uint64_t>(idleTimeoutMs);
  config->keepaliveMs = static_cast<uint64_t>(keepaliveMs);
  config->connectionsMax = static_cast<uint32_t>(connectionsMax);
  config->pipeSize = static_cast<int>(pipeSize);
  // Not given: as many as the connections could ever fill, two each.
  config->pipesMax = pipesMax < 0 ? 2 * config->connectionsMax : static_cast<uint32_t>(pipesMax);
  config->connectTimeoutMs = static_cast<uint64_t>(connectTimeoutMs);
  config->connectionEvents = o.Get("connectionEvents").ToBoolean();
  return ReadSourceLimits(o, &config->sources) && ReadBounds(o, "connectBounds", &config->connectBounds) &&
         ReadBounds(o, "durationBounds", &config->durationBounds);
}

}  // namespace sockrelay
