// The table through which the optional V8 fast path (native/v8/, one file per Node ABI)
// makes and detaches views for the main Node-API addon. Plain C: the two addons share no
// C++ and no other symbol. The main addon owns the table (one per environment) and fills in
// `version`; the fast path's install() checks it and fills in the rest.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace dmabuf {

constexpr uint32_t kViewHooksVersion = 1;

struct ViewHooks {
  uint32_t version;  // kViewHooksVersion, set by the main addon
  uint32_t abi;      // the NODE_MODULE_VERSION the fast path was built for
  void* data;        // the fast path's per-environment state; release() frees it
  // An ArrayBuffer over [mem, mem + length) that V8 neither frees nor counts as external
  // memory, and that only detach() can detach (transfer() throws a TypeError).
  napi_status (*create)(void* data, napi_env env, void* mem, size_t length, napi_value* out);
  // Detaches an ArrayBuffer create() made; napi_pending_exception if V8 refused.
  napi_status (*detach)(void* data, napi_env env, napi_value buffer);
  // The environment is ending: frees `data`. No JS runs; the isolate is still alive.
  void (*release)(void* data);
};

}  // namespace dmabuf
