// Why a connection or a session ended: one vocabulary for both relays, reported to JavaScript in
// the 'close' and 'session-closed' events and written by the access log as it comes (its `end`
// field, README: Access log).
#pragma once

namespace sockrelay {
namespace close_reason {

constexpr const char* kEof = "eof";                         // both sides finished
constexpr const char* kResetByClient = "reset-by-client";   // the client reset or gave up
constexpr const char* kResetByBackend = "reset-by-backend";
constexpr const char* kConnectFailed = "connect-failed";    // no backend connection could be made
constexpr const char* kIdleTimeout = "idle-timeout";        // nothing either way for the timeout
constexpr const char* kBackendError = "backend-error";      // a session's backend refused or failed
constexpr const char* kShutdown = "shutdown";               // the relay was destroyed
constexpr const char* kError = "error";                     // a system call failed on it
// Reset at accept: the client's source holds its share of connections, or opened them too fast.
constexpr const char* kRefusedPerSource = "refused-per-source";
constexpr const char* kRefusedPerSourceRate = "refused-per-source-rate";

}  // namespace close_reason
}  // namespace sockrelay
