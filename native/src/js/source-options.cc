#include "js/source-options.h"

#include "js/args.h"

namespace sockrelay {

bool ReadSourceLimits(const Napi::Object& options, SourceLimits* out) {
  Napi::Value value = options.Get("sourceLimits");
  if (value.IsUndefined()) return true;
  if (!value.IsObject()) return Throw(ArgTypeError(value.Env(), "options.sourceLimits must be an object"));
  Napi::Object o = value.As<Napi::Object>();
  double perSource = 0, rateCount = 0, rateSpanMs = 0, prefix4 = 32, prefix6 = 64;
  const std::string where = "options.sourceLimits.";
  if (!ReadOptionalInteger(o.Get("perSource"), where + "perSource", 0, UINT32_MAX, &perSource) ||
      !ReadOptionalInteger(o.Get("rateCount"), where + "rateCount", 0, 1e6, &rateCount) ||
      !ReadOptionalInteger(o.Get("rateSpanMs"), where + "rateSpanMs", 0, 1e10, &rateSpanMs) ||
      !ReadOptionalInteger(o.Get("prefix4"), where + "prefix4", 0, 32, &prefix4) ||
      !ReadOptionalInteger(o.Get("prefix6"), where + "prefix6", 0, 128, &prefix6))
    return false;
  if (rateCount > 0 && rateSpanMs < 1)
    return Throw(ArgValueError(o.Env(), where + "rateSpanMs must be >= 1 with rateCount"));
  out->perSource = static_cast<uint32_t>(perSource);
  out->rateCount = static_cast<uint32_t>(rateCount);
  out->rateSpanMs = static_cast<uint64_t>(rateSpanMs);
  out->prefix4 = static_cast<int>(prefix4);
  out->prefix6 = static_cast<int>(prefix6);
  return true;
}

}  // namespace sockrelay
