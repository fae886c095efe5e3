// options.sourceLimits of both relays (core/source-table.h), checked and converted.
#pragma once
#include <napi.h>

#include "core/source-table.h"

namespace sockrelay {
// { perSource?, rateCount?, rateSpanMs?, prefix4?, prefix6? }; absent: no limits. Throws (js/args.h)
// naming the field and returns false on bad input.
bool ReadSourceLimits(const Napi::Object& options, SourceLimits* out);
}  // namespace sockrelay
