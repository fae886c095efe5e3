#include "js/dgram-handover.h"

#include <cstdint>
#include <string>
#include <vector>

#include "js/args.h"
#include "js/errors.h"
#include "js/export-promise.h"

namespace sockrelay {

namespace {

Napi::Error FailureToJs(Napi::Env env, const UdpAdoptFailure& f) {
  switch (f.kind) {
    case UdpAdoptFailure::Kind::kSystem:
      return SystemError(env, f.err, f.syscall);
    case UdpAdoptFailure::Kind::kSessionsMax: {
      Napi::Error error = Napi::Error::New(env, "sessionsMax sessions are open already");
      error.Set("code", "ERR_UDP_SESSIONS_MAX");
      return error;
    }
    default:
      return ArgValueError(env, f.message);
  }
}


// From here the fds are JavaScript's.
Napi::Value SessionsToJs(Napi::Env env, std::vector<UdpHandoverSession>& sessions) {
  Napi::Array out = Napi::Array::New(env, sessions.size());
  for (size_t i = 0; i < sessions.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("upstreamFd", sessions[i].fd.release());
    o.Set("client", sessions[i].client);
    o.Set("local", sessions[i].local);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// Nobody will own these sockets; closing them tells the backend nothing.
void CloseSessions(std::vector<UdpHandoverSession>& sessions) { sessions.clear(); }

using SessionExportPromise = ExportPromise<UdpHandoverSession, SessionsToJs, CloseSessions>;

}  // namespace

Napi::Value UdpExportSessionsJs(Napi::Env env, UdpCore* core) {
  SessionExportPromise exported(env, "sockrelay:exportSessions");
  if (core == nullptr) {
    exported.Done()({});
  } else if (int err = core->ExportSessions(exported.Done())) {
    exported.Refuse(env, err, "exportSessions");
    return env.Undefined();
  }
  return exported.promise();
}

Napi::Value UdpAdoptSessionsFromJs(const Napi::CallbackInfo& info, UdpCore* core) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ArgTypeError(env, "adoptSessions(sessions: HandoverSession[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (core->started()) {
    Napi::Error::New(env, "adoptSessions() must come before start()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  Napi::Array refused = Napi::Array::New(env);
  auto refuse = [&refused, env](uint32_t index, Napi::Error error) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", index);
    o.Set("error", error.Value());
    refused.Set(refused.Length(), o);
  };
  std::vector<UdpAdoptRequest> requests;
  std::vector<uint32_t> indexes;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value entry = list.Get(i);
    int fd = -1;
    // Without an fd there is nothing to take over or close.
    if (!entry.IsObject() || !IsFd(entry.As<Napi::Object>().Get("upstreamFd"), &fd)) {
      refuse(i, ArgValueError(env, "upstreamFd must be an integer >= 0"));
      continue;
    }
    Napi::Object o = entry.As<Napi::Object>();
    UdpAdoptRequest request;
    request.fd = fd;
    Napi::Value client = o.Get("client");
    Napi::Value local = o.Get("local");
    if (!client.IsString() || !local.IsString()) {
      request.invalid = "client and local must be strings";
    } else {
      request.client = client.As<Napi::String>().Utf8Value();
      request.local = local.As<Napi::String>().Utf8Value();
    }
    requests.push_back(std::move(request));
    indexes.push_back(i);
  }
  std::vector<UdpAdoptFailure> results = core->AdoptSessions(requests);
  for (size_t k = 0; k < results.size(); k++) {
    if (results[k].kind != UdpAdoptFailure::Kind::kNone) refuse(indexes[k], FailureToJs(env, results[k]));
  }
  return refused;
}

}  // namespace sockrelay
