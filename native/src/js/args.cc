#include "js/args.h"

#include <cmath>

namespace sockrelay {
namespace {

Napi::Error WithCode(Napi::Error error, const char* code) {
  error.Set("code", code);
  return error;
}

std::string Range(double min, double max) {
  return "an integer from " + std::to_string(static_cast<int64_t>(min)) + " to " +
         std::to_string(static_cast<int64_t>(max));
}

}  // namespace

Napi::Error ArgTypeError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_TYPE");
}

Napi::Error ArgValueError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), "ERR_INVALID_ARG_VALUE");
}

Napi::Error ArgRangeError(Napi::Env env, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

bool Throw(const Napi::Error& error) {
  error.ThrowAsJavaScriptException();
  return false;
}

bool ReadInteger(Napi::Value v, const std::string& name, double min, double max, double* out) {
  if (!v.IsNumber()) return Throw(ArgTypeError(v.Env(), name + " must be " + Range(min, max)));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != std::floor(d))
    return Throw(ArgValueError(v.Env(), name + " must be " + Range(min, max)));
  *out = d;
  return true;
}

bool ReadOptionalInteger(Napi::Value v, const std::string& name, double min, double max, double* out) {
  return v.IsUndefined() || ReadInteger(v, name, min, max, out);
}

bool IsFd(Napi::Value v, int* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT32_MAX) || d != std::floor(d)) return false;
  *out = static_cast<int>(d);
  return true;
}

bool ReadFd(Napi::Value v, const std::string& name, int* out) {
  if (IsFd(v, out)) return true;
  if (!v.IsNumber()) return Throw(ArgTypeError(v.Env(), name + " must be a file descriptor (a number)"));
  return Throw(ArgRangeError(v.Env(), name + " must be an integer from 0 to 2147483647"));
}

bool ReadCount(Napi::Value v, const std::string& name, uint64_t* out) {
  if (v.IsBigInt()) {
    bool lossless = false;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)) return *out = static_cast<uint64_t>(d), true;
  } else {
    return Throw(ArgTypeError(v.Env(), name + " must be a non-negative bigint"));
  }
  return Throw(ArgValueError(v.Env(), name + " must be a non-negative bigint"));
}

}  // namespace sockrelay
