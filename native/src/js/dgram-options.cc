#include "js/dgram-options.h"

#include <cmath>

#include "js/address.h"
#include "js/args.h"
#include "js/source-options.h"

namespace sockrelay {

bool ReadUdpRelayConfig(Napi::Value value, UdpRelayConfig* config) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) return Throw(ArgTypeError(env, "options must be an object"));
  Napi::Object o = value.As<Napi::Object>();
  if (!ReadFd(o.Get("fd"), "fd", &config->fd)) return false;
  Napi::Value backend = o.Get("backend");
  if (!backend.IsArray() || backend.As<Napi::Array>().Length() == 0) {
    return Throw(ArgValueError(env, "backend must be a non-empty array of addresses"));
  }
  Napi::Array list = backend.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    SockAddr addr;
    std::string why;
    if (!ReadAddress(list.Get(i), 1, &addr, &why))
      return Throw(ArgValueError(env, "backend[" + std::to_string(i) + "]: " + why));
    config->backends.push_back(addr);
  }
  // Infinity is a timeout too: never.
  Napi::Value timeoutValue = o.Get("sessionTimeoutMs");
  double timeout = timeoutValue.IsNumber() ? timeoutValue.As<Napi::Number>().DoubleValue() : NAN;
  if (!(timeout >= 0)) return Throw(ArgValueError(env, "sessionTimeoutMs must be a number >= 0"));
  config->sessionTimeoutMs = std::isinf(timeout) ? 0 : static_cast<uint64_t>(timeout);
  double max;
  if (!ReadInteger(o.Get("sessionsMax"), "sessionsMax", 1, UINT32_MAX, &max)) return false;
  config->sessionsMax = static_cast<size_t>(max);
  Napi::Value proxy = o.Get("proxyProtocol");
  if (!proxy.IsUndefined()) {
    if (!proxy.IsString() || proxy.As<Napi::String>().Utf8Value() != "v2") {
      return Throw(ArgValueError(env, "proxyProtocol must be 'v2' or absent (v1 has no form for datagrams)"));
    }
    config->proxyV2 = true;
  }
  config->sessionEvents = o.Get("sessionEvents").ToBoolean();
  config->transparent = o.Get("transparent").ToBoolean();
  return ReadSourceLimits(o, &config->sources);
}

}  // namespace sockrelay
