// An export (core/export-job.h) as JavaScript sees it, the same for both relays: a promise,
// resolved on the JavaScript thread with the detached items converted by `ToJs`, which makes their
// fds JavaScript's. Items that can no longer be delivered (Node tearing down) go to `Discard`, so
// that no fd is left without an owner.
#pragma once
#include <napi.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "core/export-job.h"
#include "js/errors.h"

namespace sockrelay {

template <typename Item, Napi::Value (*ToJs)(Napi::Env, std::vector<Item>&), void (*Discard)(std::vector<Item>&)>
class ExportPromise {
 public:
  using List = std::vector<Item>;

  // A pending promise and the callback that settles it, from any thread, once. `name` labels the
  // thread-safe function that carries the result (it keeps Node up until it has run).
  ExportPromise(Napi::Env env, const char* name)
      : deferred_(new Napi::Promise::Deferred(env)),
        result_(Result::New(env, name, 0, 1, deferred_, [](Napi::Env, void*, Napi::Promise::Deferred* d) { delete d; })) {}

  Napi::Promise promise() const { return deferred_->Promise(); }

  typename ExportJob<Item>::Done Done() {
    Result result = result_;
    return [result](List items) mutable {
      auto* data = new List(std::move(items));
      if (result.NonBlockingCall(data) != napi_ok) {
        Discard(*data);
        delete data;
      }
      result.Release();
    };
  }

  // The export was refused before it began (`err`, EBUSY: another is under way), so the callback
  // will never run: throws the refusal as a system error of `call`.
  void Refuse(Napi::Env env, int err, const char* call) {
    result_.Release();
    Napi::Error error = SystemError(env, err, call);
    if (err == EBUSY) error.Set("message", Napi::String::New(env, error.Message() + ": an export is already under way"));
    error.ThrowAsJavaScriptException();
  }

 private:
  static void Deliver(Napi::Env env, Napi::Function, Napi::Promise::Deferred* deferred, List* items) {
    if (env == nullptr) {
      Discard(*items);
      delete items;
      return;
    }
    Napi::Value out = ToJs(env, *items);
    delete items;
    deferred->Resolve(out);
  }
  using Result = Napi::TypedThreadSafeFunction<Napi::Promise::Deferred, List, Deliver>;

  Napi::Promise::Deferred* deferred_;
  Result result_;
};

}  // namespace sockrelay
