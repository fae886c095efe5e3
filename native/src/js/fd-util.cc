// Small fd helpers for the activation protocol: classify, set flags, dup, pidfd id, RLIMIT_NOFILE.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/abort-on-close.h"
#include "core/fd-flags.h"
#include "core/unique-fd.h"
#include "js/args.h"
#include "js/errors.h"
#include "js/modules.h"
#include "core/address.h"

namespace sockrelay {
namespace {

// The fd argument at `index`, or -1 with an argument error thrown.
int FdArg(const Napi::CallbackInfo& info, size_t index = 0) {
  int fd = -1;
  return ReadFd(info[index], "fd", &fd) ? fd : -1;
}

const char* FileTypeName(mode_t mode) {
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISREG(mode)) return "file";
  if (S_ISCHR(mode)) return "char";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISBLK(mode)) return "block";
  return "unknown";
}

const char* SocketTypeName(int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_RAW: return "raw";
    default: return "unknown";
  }
}

const char* FamilyName(int family) {
  switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_VSOCK: return "vsock";
    default: return "unknown";
  }
}

int GetIntOpt(int fd, int level, int name, int* value) {
  socklen_t len = sizeof *value;
  return getsockopt(fd, level, name, value, &len);
}

Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  if (fd < 0) return env.Undefined();

  struct stat st;
  if (fstat(fd, &st) < 0) {
    SystemError(env, errno, "fstat").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  bool isSocket = S_ISSOCK(st.st_mode);
  out.Set("isSocket", isSocket);
  out.Set("fileType", FileTypeName(st.st_mode));
  out.Set("type", "unknown");
  out.Set("family", "unknown");
  out.Set("listening", false);
  out.Set("localAddress", "");
  out.Set("localPort", 0);
  out.Set("connected", false);
  if (!isSocket) return out;

  int type = 0, domain = 0, accepting = 0;
  if (GetIntOpt(fd, SOL_SOCKET, SO_TYPE, &type) < 0 || GetIntOpt(fd, SOL_SOCKET, SO_DOMAIN, &domain) < 0) {
    SystemError(env, errno, "getsockopt").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (GetIntOpt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting) < 0) accepting = 0;
  out.Set("type", SocketTypeName(type));
  out.Set("family", FamilyName(domain));
  out.Set("listening", accepting != 0);

  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0) {
    out.Set("localAddress", FormatAddress(addr, len));
    if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) {
      // sin_port and sin6_port sit at the same offset.
      out.Set("localPort", ntohs(reinterpret_cast<struct sockaddr_in*>(&addr)->sin_port));
    }
  }
  len = sizeof addr;
  // A peer, even an unnamed unix one (whose address is empty): getpeername fails only unconnected.
  out.Set("connected", getpeername(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0);
  return out;
}

Napi::Value SetFdFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  if (fd < 0) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsObject()) {
    ArgTypeError(env, "flags must be an object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object flags = info[1].As<Napi::Object>();
  int err = 0;
  if (flags.Has("nonblock")) err = SetNonblock(fd, flags.Get("nonblock").ToBoolean());
  if (err == 0 && flags.Has("cloexec")) err = SetCloexec(fd, flags.Get("cloexec").ToBoolean());
  if (err != 0) {
    SystemError(env, err, "fcntl").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

// setAbortOnClose(fd, on): SO_LINGER {on, 0} (core/abort-on-close.h).
Napi::Value SetAbortOnClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  if (fd < 0) return env.Undefined();
  if (int err = AbortOnClose(fd, info.Length() > 1 && info[1].ToBoolean())) {
    SystemError(env, err, "setsockopt").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  if (fd < 0) return env.Undefined();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    SystemError(env, errno, "dup").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, copy);
}

// pipe(): [readFd, writeFd], both close-on-exec. A reload's barrier: systemd closes its copy of
// the write end once it has read every notification sent before it (BARRIER=1).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    SystemError(env, errno, "pipe2").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  if (fd < 0) return env.Undefined();
  // The caller gives the fd up: from here it has one owner, which closes it now.
  if (int err = UniqueFd(fd).Close()) SystemError(env, err, "close").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value PidfdId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SYS_pidfd_open
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0)));
  if (!pidfd) return env.Null();
  struct stat st;
  struct statfs fs;
  int rc = fstat(pidfd.get(), &st);
  if (rc == 0) rc = fstatfs(pidfd.get(), &fs);
  // Without pidfs (Linux < 6.9) every pidfd shares one anonymous inode: meaningless as an id.
  constexpr unsigned long kPidfsMagic = 0x50494446;
  if (rc < 0 || static_cast<unsigned long>(fs.f_type) != kPidfsMagic) return env.Null();
  return Napi::String::New(env, std::to_string(static_cast<unsigned long long>(st.st_ino)));
#else
  return env.Null();
#endif
}

Napi::Value RaiseNofileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
    SystemError(env, errno, "getrlimit").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("soft", static_cast<double>(rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur)));
  out.Set("hard", static_cast<double>(rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_max)));
  return out;
}

}  // namespace

void InitFdUtil(Napi::Env env, Napi::Object exports) {
  exports.Set("fdinfo", Napi::Function::New(env, FdInfo, "fdinfo"));
  exports.Set("setFdFlags", Napi::Function::New(env, SetFdFlags, "setFdFlags"));
  exports.Set("setAbortOnClose", Napi::Function::New(env, SetAbortOnClose, "setAbortOnClose"));
  exports.Set("dup", Napi::Function::New(env, Dup, "dup"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("pidfdId", Napi::Function::New(env, PidfdId, "pidfdId"));
  exports.Set("raiseNofileLimit", Napi::Function::New(env, RaiseNofileLimit, "raiseNofileLimit"));
}

}  // namespace sockrelay
