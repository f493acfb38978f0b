// exports.constants: the numbers JS cannot know for itself.
#pragma once

#include <napi.h>

namespace dmabuf {

// Sets exports.constants, a frozen object of the numbers the C headers or the running
// kernel decide. Keep NativeConstants in lib/platform/binding.ts in step with this list.
void RegisterConstants(Napi::Env env, Napi::Object exports);

}  // namespace dmabuf
