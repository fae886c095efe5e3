#include "js/address.h"

#include <cmath>

namespace sockrelay {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

}  // namespace

bool ReadAddress(Napi::Value value, int minPort, SockAddr* out, std::string* error) {
  if (!value.IsObject()) return Fail(error, "must be an object");
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value family = o.Get("family");
  std::string name = family.IsString() ? family.As<Napi::String>().Utf8Value() : "";
  if (name == "unix") {
    Napi::Value path = o.Get("path");
    if (!path.IsString()) return Fail(error, "path must be a string");
    return UnixAddress(path.As<Napi::String>().Utf8Value(), o.Get("abstract").ToBoolean(), out, error);
  }
  if (name != "inet" && name != "inet6") return Fail(error, "family must be inet, inet6 or unix");
  Napi::Value address = o.Get("address");
  if (!address.IsString()) return Fail(error, "address must be a string");
  Napi::Value port = o.Get("port");
  double p = port.IsNumber() ? port.As<Napi::Number>().DoubleValue() : NAN;
  if (!(p >= minPort && p <= 65535) || p != std::floor(p))
    return Fail(error, "port must be an integer from " + std::to_string(minPort) + " to 65535");
  return InetAddress(name == "inet6", address.As<Napi::String>().Utf8Value(), static_cast<int>(p), out, error);
}

}  // namespace sockrelay
