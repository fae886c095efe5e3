// The three errno buckets of systemd-socket-proxyd, for both relays: wait and retry, the peer went
// away (close that side quietly), or something worth reporting.
#pragma once

namespace sockrelay {

enum class ErrnoKind { kTransient, kDisconnect, kFatal };
ErrnoKind ClassifyErrno(int err);

inline bool IsTransient(int err) { return ClassifyErrno(err) == ErrnoKind::kTransient; }
inline bool IsDisconnect(int err) { return ClassifyErrno(err) == ErrnoKind::kDisconnect; }

}  // namespace sockrelay
