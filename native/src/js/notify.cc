// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, optionally with fds (SCM_RIGHTS).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/unique-fd.h"
#include "js/args.h"
#include "js/errors.h"
#include "js/modules.h"

namespace sockrelay {
namespace {

Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ArgTypeError(env, "sdNotify(socketPath: string, state: string, fds?: number[])")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string state = info[1].As<Napi::String>().Utf8Value();
  std::vector<int> fds;
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array arr = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      int fd;
      if (!ReadFd(arr.Get(i), "fds[" + std::to_string(i) + "]", &fd)) return env.Undefined();
      fds.push_back(fd);
    }
  }

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
    ArgValueError(env, "NOTIFY_SOCKET must be an absolute path or @abstract").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addrLen = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());

  UniqueFd sock(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) {
    SystemError(env, errno, "socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  struct iovec iov;
  iov.iov_base = const_cast<char*>(state.data());
  iov.iov_len = state.size();
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &addr;
  msg.msg_namelen = addrLen;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = sendmsg(sock.get(), &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) SystemError(env, errno, "sendmsg").ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
}

}  // namespace sockrelay
