// System errors shaped like Node's own: { code, errno, syscall } on an Error.
#pragma once
#include <napi.h>

namespace sockrelay {
// Name of an errno value as Node spells it ("ECONNREFUSED"), or "E<number>".
const char* ErrnoName(int err);
Napi::Error SystemError(Napi::Env env, int err, const char* syscall);
}  // namespace sockrelay
