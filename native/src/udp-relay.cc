// Placeholder until the UDP relay lands: registers nothing.
#include "modules.h"

namespace sockrelay {
void InitUdpRelay(Napi::Env, Napi::Object) {}
}  // namespace sockrelay
