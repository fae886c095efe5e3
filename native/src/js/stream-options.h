// RelayEngine's options, checked and converted: a TypeError names the first bad field.
#pragma once
#include <napi.h>

#include "stream/options.h"

namespace sockrelay {
// False with a TypeError pending when `value` is not valid RelayEngineOptions.
bool ReadRelayConfig(Napi::Value value, RelayConfig* config);
}  // namespace sockrelay
