// mmap(MAP_SHARED) mappings owned by one Node environment and addressed by handle.
#pragma once

#include <napi.h>

namespace dmabuf {

// Creates this environment's mapping table; its finalizer munmaps what is left.
void InitMappings(Napi::Env env);

Napi::Value Mmap(const Napi::CallbackInfo& info);
Napi::Value Munmap(const Napi::CallbackInfo& info);
Napi::Value MapView(const Napi::CallbackInfo& info);
Napi::Value MapRead(const Napi::CallbackInfo& info);
Napi::Value MapWrite(const Napi::CallbackInfo& info);
Napi::Value SetCopyMode(const Napi::CallbackInfo& info);
Napi::Value ExternalBuffersAllowed(const Napi::CallbackInfo& info);
Napi::Value MappingCount(const Napi::CallbackInfo& info);

}  // namespace dmabuf
