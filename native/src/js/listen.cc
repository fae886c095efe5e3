// Binding our own sockets for --listen (and the test activator), so that they are plain fds exactly
// like the ones systemd hands over, and waiting for readiness without accepting.
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "core/unique-fd.h"
#include "js/address.h"
#include "js/args.h"
#include "js/errors.h"
#include "js/modules.h"

namespace sockrelay {
namespace {

// listenSocket(address, { type: 'stream'|'dgram', backlog }): a bound (and, for streams, listening)
// nonblocking CLOEXEC socket fd.
Napi::Value ListenSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SockAddr addr;
  std::string error;
  if (info.Length() < 2 || !info[1].IsObject() || !ReadAddress(info[0], 0, &addr, &error)) {
    if (error.empty()) error = "options must be an object";
    ArgTypeError(env, "listenSocket(address, { type, backlog }): " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object opts = info[1].As<Napi::Object>();
  bool stream = opts.Get("type").ToString().Utf8Value() != "dgram";
  int backlog = opts.Has("backlog") ? opts.Get("backlog").ToNumber().Int32Value() : SOMAXCONN;

  UniqueFd fd(socket(addr.family(), (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    SystemError(env, errno, "socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int one = 1;
  if (addr.family() != AF_UNIX) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const char* failed = nullptr;
  if (bind(fd.get(), addr.get(), addr.len) < 0) failed = "bind";
  else if (stream && listen(fd.get(), backlog) < 0) failed = "listen";
  if (failed) {
    SystemError(env, errno, failed).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd.release());
}

class WaitReadableWorker : public Napi::AsyncWorker {
 public:
  WaitReadableWorker(Napi::Env env, std::vector<int> fds, int timeoutMs)
      : Napi::AsyncWorker(env), fds_(std::move(fds)), timeoutMs_(timeoutMs),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    std::vector<struct pollfd> pfds;
    for (int fd : fds_) pfds.push_back({fd, POLLIN, 0});
    do {
      rc_ = poll(pfds.data(), pfds.size(), timeoutMs_);
    } while (rc_ < 0 && errno == EINTR);
    err_ = rc_ < 0 ? errno : 0;
    for (const auto& p : pfds) {
      if (p.revents) readable_.push_back(p.fd);
    }
  }
  void OnOK() override {
    if (rc_ < 0) deferred_.Reject(SystemError(Env(), err_, "poll").Value());
    else {
      Napi::Array out = Napi::Array::New(Env(), readable_.size());
      for (size_t i = 0; i < readable_.size(); i++) out.Set(i, Napi::Number::New(Env(), readable_[i]));
      deferred_.Resolve(out);
    }
  }

 private:
  std::vector<int> fds_;
  std::vector<int> readable_;
  int timeoutMs_;
  int rc_ = 0;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// waitReadable(fds, timeoutMs): resolves with the fds that became readable (a connection or datagram
// is waiting), [] on timeout. Runs on the libuv thread pool; the fds are never read.
Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
    ArgTypeError(env, "waitReadable(fds: number[], timeoutMs: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    int fd;
    if (!ReadFd(arr.Get(i), "fds[" + std::to_string(i) + "]", &fd)) return env.Undefined();
    fds.push_back(fd);
  }
  auto* worker = new WaitReadableWorker(env, std::move(fds), info[1].As<Napi::Number>().Int32Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitListen(Napi::Env env, Napi::Object exports) {
  exports.Set("listenSocket", Napi::Function::New(env, ListenSocket, "listenSocket"));
  exports.Set("waitReadable", Napi::Function::New(env, WaitReadable, "waitReadable"));
}

}  // namespace sockrelay
