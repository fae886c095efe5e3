// Each file of the addon registers its own exports; addon.cc only calls these.
#pragma once
#include <napi.h>

namespace sockrelay {
void InitFdUtil(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);
void InitListen(Napi::Env env, Napi::Object exports);
void InitRelayEngine(Napi::Env env, Napi::Object exports);
void InitUdpRelay(Napi::Env env, Napi::Object exports);
void InitTransparent(Napi::Env env, Napi::Object exports);
}  // namespace sockrelay
