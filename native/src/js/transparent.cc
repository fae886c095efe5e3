// checkTransparent(): whether backend sockets may be bound to clients' addresses (core/transparent.h),
// asked once at start so that a missing capability stops sockrelay before it serves anyone.
#include "core/transparent.h"
#include "js/errors.h"
#include "js/modules.h"

namespace sockrelay {
namespace {

Napi::Value CheckTransparent(const Napi::CallbackInfo& info) {
  if (int err = TransparentAllowed()) SystemError(info.Env(), err, "setsockopt").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

}  // namespace

void InitTransparent(Napi::Env env, Napi::Object exports) {
  exports.Set("checkTransparent", Napi::Function::New(env, CheckTransparent, "checkTransparent"));
}

}  // namespace sockrelay
