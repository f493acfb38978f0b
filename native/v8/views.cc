// The optional V8 fast path for views: built against one Node ABI's V8 headers, loaded only
// by a Node of that ABI (lib/platform/binding.ts), and never holding any of the main addon's
// logic. It fills in the main addon's ViewHooks (view_hooks.h) with two functions:
//   create: an ArrayBuffer whose backing store has v8::BackingStore::EmptyDeleter, which V8
//     neither frees nor counts as external memory (Node-API's external ArrayBuffers count, and
//     a view of 64 MiB or more then starts incremental marking). It is marked untransferable
//     for postMessage (the loader's mark function, worker_threads.markAsUntransferable), then
//     given a detach key private to this environment, so that transfer() and every other
//     detach throw a TypeError. In that order: Node 24's markAsUntransferable sets a detach
//     key of its own.
//   detach: Detach(key), for munmap.
// V8 before 13 aborts the process (Detach(...).Check()) when transfer() meets a keyed buffer:
// there install() refuses wherever ArrayBuffer.prototype.transfer exists (Node 22; Node 20
// with --harmony-rab-gsab-transfer).
// Who owns the memory: the main addon's mapping table. The ArrayBuffer has no finalizer.
#include <node_version.h>  // first: Node 20's defines NAPI_VERSION
#include <node_api.h>
#include <v8.h>

#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "../view_hooks.h"

namespace {

// napi_value <-> v8::Local, as Node's own js_native_api_v8.h converts them.
napi_value ToNapi(v8::Local<v8::Value> local) { return reinterpret_cast<napi_value>(*local); }

v8::Local<v8::Value> ToLocal(napi_value value) {
  v8::Local<v8::Value> local;
  std::memcpy(static_cast<void*>(&local), &value, sizeof(value));
  return local;
}

struct State {
  v8::Isolate* isolate;
  v8::Global<v8::Value> key;      // the detach key of every ArrayBuffer made here
  v8::Global<v8::Function> mark;  // makes an ArrayBuffer untransferable
};

napi_status Create(void* data, napi_env, void* mem, size_t length, napi_value* out) {
  auto* state = static_cast<State*>(data);
  v8::Isolate* isolate = state->isolate;
  if (isolate != v8::Isolate::GetCurrent()) return napi_generic_failure;
  std::unique_ptr<v8::BackingStore> store =
      v8::ArrayBuffer::NewBackingStore(mem, length, v8::BackingStore::EmptyDeleter, nullptr);
  // The caller's scope (a Node-API callback's) holds the Local.
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Value> arg = buffer;
  const bool marked = !state->mark.Get(isolate)
                           ->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, &arg)
                           .IsEmpty();
  v8::Local<v8::Value> key = state->key.Get(isolate);
  buffer->SetDetachKey(key);
  if (!marked) {  // the exception stays pending; nothing may reach the memory
    static_cast<void>(buffer->Detach(key).FromMaybe(false));
    return napi_pending_exception;
  }
  *out = ToNapi(arg);
  return napi_ok;
}

napi_status Detach(void* data, napi_env, napi_value value) {
  auto* state = static_cast<State*>(data);
  v8::Isolate* isolate = state->isolate;
  if (isolate != v8::Isolate::GetCurrent()) return napi_generic_failure;
  v8::Local<v8::Value> local = ToLocal(value);
  if (!local->IsArrayBuffer()) return napi_arraybuffer_expected;
  bool detached = false;
  if (!local.As<v8::ArrayBuffer>()->Detach(state->key.Get(isolate)).To(&detached))
    return napi_pending_exception;
  return detached ? napi_ok : napi_generic_failure;
}

void Release(void* data) { delete static_cast<State*>(data); }

napi_value Throw(napi_env env, const char* message) {
  napi_throw_error(env, "ERR_DMABUF_V8_VIEWS", message);
  return nullptr;
}

#if V8_MAJOR_VERSION < 13
// Whether ArrayBuffer.prototype has `name` (transfer, transferToFixedLength).
bool HasTransfer(napi_env env, const char* name) {
  napi_value global, ctor, proto, fn;
  napi_valuetype type = napi_undefined;
  return napi_get_global(env, &global) == napi_ok &&
         napi_get_named_property(env, global, "ArrayBuffer", &ctor) == napi_ok &&
         napi_get_named_property(env, ctor, "prototype", &proto) == napi_ok &&
         napi_get_named_property(env, proto, name, &fn) == napi_ok &&
         napi_typeof(env, fn, &type) == napi_ok && type != napi_undefined;
}
#endif

// install(hooks: external, abi: string, mark: function): fills in the main addon's table for
// this environment.
napi_value Install(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3)
    return Throw(env, "install(hooks, abi, mark): three arguments expected");
  void* ptr = nullptr;
  if (napi_get_value_external(env, argv[0], &ptr) != napi_ok || ptr == nullptr)
    return Throw(env, "install: hooks is not the main addon's table");
  auto* hooks = static_cast<dmabuf::ViewHooks*>(ptr);
  if (hooks->version != dmabuf::kViewHooksVersion) return Throw(env, "install: hook table version mismatch");
  // Built for exactly this ABI: the running Node's process.versions.modules, and its major
  // version (both checked again here; the loader only ever picks abi<modules>.node).
  char abi[16] = {0};
  size_t abi_len = 0;
  if (napi_get_value_string_utf8(env, argv[1], abi, sizeof abi, &abi_len) != napi_ok ||
      std::strcmp(abi, NODE_STRINGIFY(NODE_MODULE_VERSION)) != 0)
    return Throw(env, "install: built for NODE_MODULE_VERSION " NODE_STRINGIFY(
                          NODE_MODULE_VERSION) ", not this Node's");
  const napi_node_version* version = nullptr;
  if (napi_get_node_version(env, &version) != napi_ok || version->major != NODE_MAJOR_VERSION)
    return Throw(env, "install: built for Node " NODE_STRINGIFY(NODE_MAJOR_VERSION) ", not this one");
#if V8_MAJOR_VERSION < 13
  if (HasTransfer(env, "transfer") || HasTransfer(env, "transferToFixedLength"))
    return Throw(env, "install: this V8 (" NODE_STRINGIFY(V8_MAJOR_VERSION) "." NODE_STRINGIFY(
                          V8_MINOR_VERSION) ") aborts the process when transfer() meets a keyed view");
#endif
  if (hooks->data != nullptr) return Throw(env, "install: hooks already installed");
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return Throw(env, "install: no current isolate");
  v8::Local<v8::Value> mark = ToLocal(argv[2]);
  if (!mark->IsFunction()) return Throw(env, "install: mark is not a function");
  auto* state = new (std::nothrow) State{isolate, {}, {}};
  if (state == nullptr) return Throw(env, "install: out of memory");
  state->key.Reset(isolate, v8::Object::New(isolate));
  state->mark.Reset(isolate, mark.As<v8::Function>());
  hooks->abi = NODE_MODULE_VERSION;
  hooks->data = state;
  hooks->create = Create;
  hooks->detach = Detach;
  hooks->release = Release;
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT(/* env, exports */) {
  napi_value fn;
  if (napi_create_function(env, "install", NAPI_AUTO_LENGTH, Install, nullptr, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "install", fn) != napi_ok)
    return nullptr;
  napi_value abi;
  if (napi_create_uint32(env, NODE_MODULE_VERSION, &abi) != napi_ok ||
      napi_set_named_property(env, exports, "abi", abi) != napi_ok)
    return nullptr;
  return exports;
}
