// Placeholder until the splice engine lands: registers nothing, so loaders see no RelayEngine.
#include "modules.h"

namespace sockrelay {
void InitRelayEngine(Napi::Env, Napi::Object) {}
}  // namespace sockrelay
