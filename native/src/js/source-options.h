// options.sourceLimits of both relays (core/source-table.h), checked and converted.
#pragma once
#include <napi.h>

#include <string>

#include "core/source-table.h"

namespace sockrelay {
// { perSource?, rateCount?, rateSpanMs?, prefix4?, prefix6? }; absent: no limits. False and *error
// naming the field on bad input.
bool ReadSourceLimits(const Napi::Object& options, SourceLimits* out, std::string* error);
}  // namespace sockrelay
