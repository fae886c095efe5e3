// The JavaScript side of the address codec: a SocketAddress object (src/native/binding.ts) read into
// a SockAddr, for listenSocket() and both relays' backends alike.
#pragma once
#include <napi.h>

#include <string>

#include "core/address.h"

namespace sockrelay {

// { family: 'inet' | 'inet6', address, port } or { family: 'unix', path, abstract }; the port must be
// from minPort to 65535. False with *error (naming the field) on bad input.
bool ReadAddress(Napi::Value value, int minPort, SockAddr* out, std::string* error);

}  // namespace sockrelay
