#include "js/modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sockrelay::InitFdUtil(env, exports);
  sockrelay::InitNotify(env, exports);
  sockrelay::InitListen(env, exports);
  sockrelay::InitRelayEngine(env, exports);
  sockrelay::InitUdpRelay(env, exports);
  sockrelay::InitTransparent(env, exports);
  return exports;
}

NODE_API_MODULE(sockrelay, Init)
