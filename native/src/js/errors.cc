#include "js/errors.h"

#include <uv.h>

#include <cstring>
#include <string>

namespace sockrelay {

const char* ErrnoName(int err) {
  // libuv's names match Node's error codes; uv errors are negated errno on Unix.
  return uv_err_name(-err);
}

void SetErrorFields(Napi::Object o, int err, const char* syscall, uint64_t count) {
  o.Set("code", ErrnoName(err));
  o.Set("errno", -err);
  o.Set("syscall", syscall);
  o.Set("count", static_cast<double>(count));
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall) {
  std::string message = std::string(syscall) + " " + ErrnoName(err) + " (" + strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

}  // namespace sockrelay
