#include "js/dgram-options.h"

#include <cmath>

#include "js/address.h"
#include "js/source-options.h"

namespace sockrelay {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

// NaN when absent or not a number, so every range check below rejects it.
double NumberProp(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
}

bool IsInteger(double v) { return std::isfinite(v) && std::floor(v) == v; }

}  // namespace

bool ParseUdpRelayOptions(const Napi::Object& o, UdpRelayConfig* config, std::string* error) {
  double fd = NumberProp(o, "fd");
  if (!IsInteger(fd) || fd < 0 || fd > INT32_MAX) return Fail(error, "fd must be an integer >= 0");
  config->fd = static_cast<int>(fd);
  Napi::Value backend = o.Get("backend");
  if (!backend.IsArray() || backend.As<Napi::Array>().Length() == 0) {
    return Fail(error, "backend must be a non-empty array of addresses");
  }
  Napi::Array list = backend.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    SockAddr addr;
    std::string why;
    if (!ReadAddress(list.Get(i), 1, &addr, &why)) return Fail(error, "backend[" + std::to_string(i) + "]: " + why);
    config->backends.push_back(addr);
  }
  double timeout = NumberProp(o, "sessionTimeoutMs");
  if (!(timeout >= 0)) return Fail(error, "sessionTimeoutMs must be a number >= 0");
  config->sessionTimeoutMs = std::isinf(timeout) ? 0 : static_cast<uint64_t>(timeout);
  double max = NumberProp(o, "sessionsMax");
  if (!IsInteger(max) || max < 1) return Fail(error, "sessionsMax must be an integer >= 1");
  config->sessionsMax = static_cast<size_t>(max);
  Napi::Value proxy = o.Get("proxyProtocol");
  if (!proxy.IsUndefined()) {
    if (!proxy.IsString() || proxy.As<Napi::String>().Utf8Value() != "v2") {
      return Fail(error, "proxyProtocol must be 'v2' or absent (v1 has no form for datagrams)");
    }
    config->proxyV2 = true;
  }
  config->sessionEvents = o.Get("sessionEvents").ToBoolean();
  config->transparent = o.Get("transparent").ToBoolean();
  return ReadSourceLimits(o, &config->sources, error);
}

}  // namespace sockrelay
