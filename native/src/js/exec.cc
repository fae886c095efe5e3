// execve(2) in place, for reload: the process keeps its pid (systemd's MainPID) and becomes a fresh
// program that finds `fds` as LISTEN_FDS at 3, 4, … . Node 20 has no process.execve.
//
// Signals that come meanwhile (a SIGHUP, or a stop) neither end the process nor get lost: see
// core/exec-signals.h. The new program takes them with takeSignalsDuringExec() once it listens.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/exec-signals.h"
#include "core/fd-flags.h"
#include "js/errors.h"
#include "js/modules.h"

namespace sockrelay {
namespace {

constexpr int kListenFdsStart = 3;

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
  // Past this point Node's own descriptors at 3… are gone: there is no way back but exec. Signals
  // wait for the new program from here at the latest (the caller holds them earlier).
  HoldSignalsForExec();
  for (int i = 0; i < count; i++) {
    // dup2 leaves the new fd without FD_CLOEXEC: exactly these cross the exec.
    if (dup2(copies[i], kListenFdsStart + i) < 0) {
      std::fprintf(stderr, "sockrelay: reload: dup2 failed (%s)\n", std::strerror(errno));
      _exit(71);
    }
  }
  // Node may have marked stdio close-on-exec; the new program logs to the same stderr.
  for (int fd = 0; fd < kListenFdsStart; fd++) SetCloexec(fd, false);
  AddExecSignalHold(envp);
  std::vector<char*> cargv = CArray(argv), cenv = CArray(envp);
  execve(path.c_str(), cargv.data(), cenv.data());
  std::fprintf(stderr, "sockrelay: reload: execve %s failed (%s)\n", path.c_str(), std::strerror(errno));
  _exit(71);
}

// holdSignalsForExec(), releaseSignalsForExec(): see core/exec-signals.h.
Napi::Value HoldSignals(const Napi::CallbackInfo& info) {
  HoldSignalsForExec();
  return info.Env().Undefined();
}

Napi::Value ReleaseSignals(const Napi::CallbackInfo& info) {
  ReleaseSignalsForExec();
  return info.Env().Undefined();
}

// takeSignalsDuringExec(name): how many of SIGHUP, SIGTERM or SIGINT reached this program between
// the reload's exec that started it and now; resets the count.
Napi::Value TakeSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  int signal = name == "SIGHUP" ? SIGHUP : name == "SIGTERM" ? SIGTERM : name == "SIGINT" ? SIGINT : 0;
  if (signal == 0) {
    Napi::TypeError::New(env, "takeSignalsDuringExec('SIGHUP' | 'SIGTERM' | 'SIGINT')").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, TakeSignalsDuringExec(signal));
}

}  // namespace

void InitExec(Napi::Env env, Napi::Object exports) {
  exports.Set("execve", Napi::Function::New(env, Execve, "execve"));
  exports.Set("holdSignalsForExec", Napi::Function::New(env, HoldSignals, "holdSignalsForExec"));
  exports.Set("releaseSignalsForExec", Napi::Function::New(env, ReleaseSignals, "releaseSignalsForExec"));
  exports.Set("takeSignalsDuringExec", Napi::Function::New(env, TakeSignals, "takeSignalsDuringExec"));
}

}  // namespace sockrelay
