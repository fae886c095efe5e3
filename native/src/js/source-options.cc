#include "js/source-options.h"

#include <cmath>

namespace sockrelay {
namespace {

// An absent field keeps *out; a present one must be an integer within [min, max].
bool Field(const Napi::Object& o, const char* key, double min, double max, double* out, std::string* error) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= min && d <= max) || d != std::floor(d)) {
    *error = std::string("sourceLimits.") + key + " must be an integer from " +
             std::to_string(static_cast<int64_t>(min)) + " to " + std::to_string(static_cast<int64_t>(max));
    return false;
  }
  *out = d;
  return true;
}

}  // namespace

bool ReadSourceLimits(const Napi::Object& options, SourceLimits* out, std::string* error) {
  Napi::Value value = options.Get("sourceLimits");
  if (value.IsUndefined()) return true;
  if (!value.IsObject()) return *error = "sourceLimits must be an object", false;
  Napi::Object o = value.As<Napi::Object>();
  double perSource = 0, rateCount = 0, rateSpanMs = 0, prefix4 = 32, prefix6 = 64;
  if (!Field(o, "perSource", 0, UINT32_MAX, &perSource, error) || !Field(o, "rateCount", 0, 1e6, &rateCount, error) ||
      !Field(o, "rateSpanMs", 0, 1e10, &rateSpanMs, error) || !Field(o, "prefix4", 0, 32, &prefix4, error) ||
      !Field(o, "prefix6", 0, 128, &prefix6, error))
    return false;
  if (rateCount > 0 && rateSpanMs < 1) return *error = "sourceLimits.rateSpanMs must be >= 1 with rateCount", false;
  out->perSource = static_cast<uint32_t>(perSource);
  out->rateCount = static_cast<uint32_t>(rateCount);
  out->rateSpanMs = static_cast<uint64_t>(rateSpanMs);
  out->prefix4 = static_cast<int>(prefix4);
  out->prefix6 = static_cast<int>(prefix6);
  return true;
}

}  // namespace sockrelay
