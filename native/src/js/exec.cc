// execve(2) in place, for reload: the process keeps its pid (systemd's MainPID) and becomes a fresh
// program that finds `fds` as LISTEN_FDS at 3, 4, … . Node 20 has no process.execve.
//
// A SIGHUP during the exec must not kill the process. Across execve a handler falls back to the
// default (terminate), and Node's start-up unblocks every signal and turns SIG_IGN back into
// SIG_DFL, long before JavaScript can listen. It keeps a handler it finds installed, though. So the
// exec blocks SIGHUP (a blocked signal stays pending across execve) and preloads this very addon
// into the new program (LD_PRELOAD), whose constructor below installs a handler that only counts,
// before Node starts. Node then unblocks SIGHUP into that handler, and later replaces it with its
// own once JavaScript listens; takeHangupsDuringExec() tells the new program how many came in
// between, to be treated as a reload request once it serves. SIGTERM has no such way through:
// Node installs its own exit handler for it at start-up, whatever was there.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/fd-flags.h"
#include "js/errors.h"
#include "js/modules.h"

namespace sockrelay {
namespace {

constexpr int kListenFdsStart = 3;
// Set by Execve for the new program only; the constructor removes it (and LD_PRELOAD) at once.
constexpr const char* kHoldHangups = "SOCKRELAY_EXEC_HOLD_SIGHUP";

std::atomic<int> hangupsDuringExec{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler must be async-signal-safe");

void CountHangup(int) { hangupsDuringExec.fetch_add(1, std::memory_order_relaxed); }

// Runs when the library is loaded: preloaded by the exec (before Node's main), or required as usual
// (then nothing is asked of it). No other environment is touched: children never see the preload.
__attribute__((constructor)) void HoldHangupsFromExec() {
  if (getenv(kHoldHangups) == nullptr) return;
  unsetenv(kHoldHangups);
  unsetenv("LD_PRELOAD");
  struct sigaction action = {};
  action.sa_handler = CountHangup;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &action, nullptr);
}

// "LD_PRELOAD=<this library>" and the marker, unless the program already has a preload of its own
// (then it gets none of ours, and a SIGHUP during the exec is as dangerous as before).
void AddHangupHold(std::vector<std::string>& envp) {
  for (const std::string& var : envp)
    if (var.rfind("LD_PRELOAD=", 0) == 0) return;
  Dl_info self;
  char path[PATH_MAX];
  if (dladdr(reinterpret_cast<void*>(&CountHangup), &self) == 0 || self.dli_fname == nullptr ||
      realpath(self.dli_fname, path) == nullptr)
    return;
  envp.push_back(std::string("LD_PRELOAD=") + path);
  envp.push_back(std::string(kHoldHangups) + "=1");
}

bool StringArray(Napi::Env env, Napi::Value value, std::vector<std::string>& out) {
  if (!value.IsArray()) return false;
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) return false;
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  (void)env;
  return true;
}

std::vector<char*> CArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// execve(path, argv, env, fds): returns only by throwing, and only before anything was changed.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> argv, envp;
  if (info.Length() < 4 || !info[0].IsString() || !StringArray(env, info[1], argv) ||
      !StringArray(env, info[2], envp) || !info[3].IsArray()) {
    Napi::TypeError::New(env, "execve(path, argv[], env[], fds[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Array fdArray = info[3].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < fdArray.Length(); i++) {
    Napi::Value v = fdArray.Get(i);
    int fd = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
      Napi::TypeError::New(env, "execve: fds must be open descriptors").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fds.push_back(fd);
  }
  // What can be checked is checked while failing still leaves the process as it was.
  if (access(path.c_str(), X_OK) < 0) {
    SystemError(env, errno, "execve").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int count = static_cast<int>(fds.size());
  // Copies above the target range first, so placing fd i at 3 + i never overwrites a later source.
  std::vector<int> copies;
  for (int fd : fds) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, kListenFdsStart + count);
    if (copy < 0) {
      int err = errno;
      for (int c : copies) close(c);
      SystemError(env, err, "dup").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    copies.push_back(copy);
  }
  // Past this point Node's own descriptors at 3… are gone: there is no way back but exec.
  for (int i = 0; i < count; i++) {
    // dup2 leaves the new fd without FD_CLOEXEC: exactly these cross the exec.
    if (dup2(copies[i], kListenFdsStart + i) < 0) {
      std::fprintf(stderr, "sockrelay: reload: dup2 failed (%s)\n", std::strerror(errno));
      _exit(71);
    }
  }
  // Node may have marked stdio close-on-exec; the new program logs to the same stderr.
  for (int fd = 0; fd < kListenFdsStart; fd++) SetCloexec(fd, false);
  AddHangupHold(envp);
  std::vector<char*> cargv = CArray(argv), cenv = CArray(envp);
  // From here a SIGHUP to this thread waits for the new program's handler. (One taken by another
  // thread of ours meanwhile goes to libuv, and is lost with it: this is a reload already.)
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  execve(path.c_str(), cargv.data(), cenv.data());
  std::fprintf(stderr, "sockrelay: reload: execve %s failed (%s)\n", path.c_str(), std::strerror(errno));
  _exit(71);
}

// How many SIGHUPs came between the exec that started this program and JavaScript's own listener
// (and resets the count): each was a reload request.
Napi::Value TakeHangupsDuringExec(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), hangupsDuringExec.exchange(0));
}

}  // namespace

void InitExec(Napi::Env env, Napi::Object exports) {
  exports.Set("execve", Napi::Function::New(env, Execve, "execve"));
  exports.Set("takeHangupsDuringExec", Napi::Function::New(env, TakeHangupsDuringExec, "takeHangupsDuringExec"));
}

}  // namespace sockrelay
