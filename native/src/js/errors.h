// System errors shaped like Node's own: { code, errno, syscall } on an Error.
#pragma once
#include <napi.h>

#include <cstdint>

namespace sockrelay {
// Name of an errno value as Node spells it ("ECONNREFUSED"), or "E<number>".
const char* ErrnoName(int err);
Napi::Error SystemError(Napi::Env env, int err, const char* syscall);
// The fields of a reported system error on an event object: code, errno, syscall, and how many.
void SetErrorFields(Napi::Object o, int err, const char* syscall, uint64_t count);
}  // namespace sockrelay
