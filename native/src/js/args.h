// The one argument reader of the addon. Argument errors are thrown the way Node's own APIs throw
// them, with a stable code: a TypeError ERR_INVALID_ARG_TYPE for a value of the wrong type, a
// TypeError ERR_INVALID_ARG_VALUE for one of the right type that is not acceptable, and for an fd
// that is not a whole non-negative number a RangeError ERR_OUT_OF_RANGE (as fs.close(3.7) does:
// taking 3.7 as fd 3 would act on a descriptor nobody named). Each reader throws and returns false.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace sockrelay {

Napi::Error ArgTypeError(Napi::Env env, const std::string& message);
Napi::Error ArgValueError(Napi::Env env, const std::string& message);
Napi::Error ArgRangeError(Napi::Env env, const std::string& message);

// Throws `error` and returns false, for `return Throw(...)` in a reader.
bool Throw(const Napi::Error& error);

// A number that is an integer from min to max.
bool ReadInteger(Napi::Value v, const std::string& name, double min, double max, double* out);
// An absent (undefined) value leaves *out as it is.
bool ReadOptionalInteger(Napi::Value v, const std::string& name, double min, double max, double* out);
// Whether v is a file descriptor (an integer from 0 to INT32_MAX), without throwing.
bool IsFd(Napi::Value v, int* out);
// A file descriptor: an integer from 0 to INT32_MAX.
bool ReadFd(Napi::Value v, const std::string& name, int* out);
// A non-negative count as a bigint or a safe integer.
bool ReadCount(Napi::Value v, const std::string& name, uint64_t* out);

}  // namespace sockrelay
