#include "udp-options.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/un.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace sockrelay {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

std::string StringProp(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}

// NaN when absent or not a number, so every range check below rejects it.
double NumberProp(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
}

bool IsInteger(double v) { return std::isfinite(v) && std::floor(v) == v; }

bool ParseInet(const Napi::Object& o, bool v6, UdpAddr* out, std::string* error) {
  double port = NumberProp(o, "port");
  if (!IsInteger(port) || port < 0 || port > 65535) return Fail(error, "port must be an integer 0-65535");
  std::string host = StringProp(o, "address");
  if (!v6) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(&out->ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) return Fail(error, "bad IPv4 address: " + host);
    out->len = sizeof *in;
    return true;
  }
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&out->ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(static_cast<uint16_t>(port));
  // fe80::1%eth0 or fe80::1%2: a link-local backend needs its interface.
  size_t percent = host.find('%');
  if (percent != std::string::npos) {
    std::string scope = host.substr(percent + 1);
    in6->sin6_scope_id = if_nametoindex(scope.c_str());
    if (in6->sin6_scope_id == 0) {
      in6->sin6_scope_id = static_cast<uint32_t>(strtoul(scope.c_str(), nullptr, 10));
    }
    host.resize(percent);
  }
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
    return Fail(error, "bad IPv6 address: " + host);
  }
  out->len = sizeof *in6;
  return true;
}

bool ParseUnix(const Napi::Object& o, UdpAddr* out, std::string* error) {
  std::string path = StringProp(o, "path");
  bool abstract = o.Get("abstract").ToBoolean();
  auto* un = reinterpret_cast<struct sockaddr_un*>(&out->ss);
  un->sun_family = AF_UNIX;
  // Both forms need one spare byte: the leading NUL of an abstract name, the trailing NUL of a path.
  if (path.empty() || path.size() + 1 > sizeof un->sun_path) return Fail(error, "bad unix socket path");
  memcpy(un->sun_path + (abstract ? 1 : 0), path.data(), path.size());
  out->len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

bool ParseSocketAddress(Napi::Value value, UdpAddr* out, std::string* error) {
  if (!value.IsObject()) return Fail(error, "backend address must be an object");
  Napi::Object o = value.As<Napi::Object>();
  std::string family = StringProp(o, "family");
  *out = UdpAddr{};
  if (family == "inet" || family == "inet6") return ParseInet(o, family == "inet6", out, error);
  if (family == "unix") return ParseUnix(o, out, error);
  return Fail(error, "backend family must be inet, inet6 or unix");
}

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
    UdpAddr addr;
    if (!ParseSocketAddress(list.Get(i), &addr, error)) return false;
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
  return true;
}

}  // namespace sockrelay
