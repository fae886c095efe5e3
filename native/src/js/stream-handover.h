// The handover methods of RelayEngine as JavaScript sees them: arguments checked, fds and counters
// converted, and an export's result delivered as a promise.
#pragma once
#include <napi.h>

#include "stream/relay.h"

namespace sockrelay {

// exportConnections(timeoutMs): a promise of
// [{ listener, clientFd, backendFd (null: still connecting), bytesIn, bytesOut, connectDeadlineMs }].
Napi::Value ExportConnectionsJs(const Napi::CallbackInfo& info, RelayCore& core);
// adoptConnection(listener, clientFd, backendFd, bytesIn, bytesOut, connectDeadlineMs): with a null
// backendFd, a client still connecting; connectDeadlineMs is read only then.
Napi::Value AdoptConnectionJs(const Napi::CallbackInfo& info, RelayCore& core);
// adoptClient(listener, clientFd).
Napi::Value AdoptClientJs(const Napi::CallbackInfo& info, RelayCore& core);

}  // namespace sockrelay
