// Node glue for sync_file objects.
#pragma once

#include <napi.h>

namespace dmabuf {

void InitFences(Napi::Env env, Napi::Object exports);

}  // namespace dmabuf
