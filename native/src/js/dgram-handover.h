// exportSessions() and adoptSessions() of the JavaScript UdpRelay: the argument checking and the
// error objects around UdpCore's handover.
#pragma once
#include <napi.h>

#include "dgram/relay.h"

namespace sockrelay {

// exportSessions(): a promise of [{ upstreamFd, client, local }], most recently active first; of none
// once the relay is destroyed (core null).
Napi::Value UdpExportSessionsJs(Napi::Env env, UdpCore* core);

// adoptSessions(sessions): [{ index, error }] for the entries refused. Throws only when the call as a
// whole is wrong (not an array, relay already started).
Napi::Value UdpAdoptSessionsFromJs(const Napi::CallbackInfo& info, UdpCore* core);

}  // namespace sockrelay
