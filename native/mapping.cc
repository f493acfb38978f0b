// Glue for mmap(MAP_SHARED) mappings owned by one Node environment and addressed by handle:
// external ArrayBuffer views where the runtime allows them, copies where it does not.
//
// A view is a promise about memory. munmap detaches the view first, so a stale TypedArray
// has byteLength 0; but ArrayBuffer.prototype.transfer() (on by default from Node 22) moves
// the memory into a new ArrayBuffer that nothing here can reach or detach. Each mapping's
// memory is therefore a Region, referenced by the table entry and by every external
// ArrayBuffer made over it (its finalizer runs when the last holder, original or transferred,
// is collected). munmap of a mapping whose view was never moved unmaps at once: detaching its
// only ArrayBuffer leaves nothing that can reach the memory. One whose view was moved is
// "parked": the range is replaced by an anonymous private mapping of the same length
// (MAP_FIXED), so the dma-buf is released at once and a stale transferred view sees inert
// zeroed memory; the range is unmapped when the last finalizer runs.
//
// Where the optional V8 fast path is installed for the environment (view_hooks.h, native/v8/),
// views come from it instead: no finalizer and no reference to the Region, since the table's
// napi_ref is the only ArrayBuffer that can reach the memory (a detach key refuses transfer(),
// and the loader marks the buffer untransferable for postMessage). munmap detaches it through
// the fast path (napi_detach_arraybuffer would abort on a keyed buffer) and unmaps at once.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/fd.h"
#include "view_hooks.h"

namespace dmabuf {
namespace {

// Regions unmapped from JS but still reachable by a transferred view (for tests).
std::atomic<int64_t> parked_regions{0};

// The address range of one mmap.
struct Region {
  void* base;  // what mmap returned
  size_t length;
  std::atomic<int> refs{1};  // the table entry, and each external ArrayBuffer over the range
  bool unmapped = false;     // munmapped: nothing is left to do
  bool parked = false;       // replaced by anonymous memory while a moved view may remain

  Region(void* b, size_t l) : base(b), length(l) {}

  void Unref() {
    if (--refs > 0) return;
    if (!unmapped) sys::Munmap(base, length);
    if (parked) parked_regions--;
    delete this;
  }

  // An external ArrayBuffer's finalizer: the last holder of its memory is gone. Runs on the
  // environment's thread (Node defers it there), at the latest at the environment's end.
  static void Finalize(napi_env, void*, void* hint) { static_cast<Region*>(hint)->Unref(); }
};

struct Mapping {
  void* addr;  // what views and copies see: region base + skip
  size_t length;
  Region* region;
  bool writable;
  napi_ref view = nullptr;  // strong reference to the external ArrayBuffer, once mapView made it
  bool moved = false;       // a view's ArrayBuffer was found detached: its memory moved elsewhere
  bool keyed = false;       // the view came from the fast path: only hooks.detach may detach it
};

// Per-environment state: the main thread and every worker have their own.
struct Mappings : EnvPart {
  std::unordered_map<uint32_t, Mapping> live;
  uint32_t next_handle = 1;  // wraps to 0 once every handle has been used
  bool copy_forced = false;
  int external_allowed = -1;  // -1 until probed
  // The V8 fast path, once installViewHooks filled it in (create set).
  ViewHooks hooks{kViewHooksVersion, 0, nullptr, nullptr, nullptr, nullptr};

  // Environment teardown (worker.terminate() included): no JS can reach the memory any
  // more, whoever holds a view. The napi_refs belong to the dying environment, which frees
  // them itself; finalizers that run later only drop their reference.
  void Teardown() override {
    for (const auto& entry : live) {
      Region* r = entry.second.region;
      if (!r->unmapped) sys::Munmap(r->base, r->length);
      r->unmapped = true;
      r->Unref();
    }
    live.clear();
    // Keyed views may still exist in the dying heap, over unmapped memory; no JS runs again.
    if (hooks.release) hooks.release(hooks.data);
    hooks = ViewHooks{kViewHooksVersion, 0, nullptr, nullptr, nullptr, nullptr};
  }
};

// size_t is 32 bits on 32-bit targets.
constexpr auto kMaxLength = static_cast<int64_t>(std::min<uint64_t>(SIZE_MAX, kMaxSafeInteger));

Mappings& State(Napi::Env env) {
  return *static_cast<Mappings*>(EnvState::Of(env).Part(EnvState::kMappings));
}

uint32_t ArgHandle(Napi::Value v) { return static_cast<uint32_t>(ArgInt(v, "handle", 0, UINT32_MAX)); }

Mapping& Find(Mappings& state, Napi::Env env, uint32_t handle, const char* op) {
  auto it = state.live.find(handle);
  if (it == state.live.end()) {
    const std::string detail = "no live mapping has handle " + std::to_string(handle);
    throw ErrnoError(env, -EINVAL, {op, nullptr, -1, nullptr, detail.c_str()});
  }
  return it->second;
}

Napi::Error NoExternalBuffers(Napi::Env env) {
  return WithCode(Napi::Error::New(env,
                                   "This runtime forbids external ArrayBuffers (e.g. Electron's V8 memory "
                                   "cage), or copy mode is forced; use read()/write() copies instead"),
                  "ERR_DMABUF_NO_EXTERNAL_BUFFERS");
}

Napi::Error ReadOnlyView(Napi::Env env) {
  return WithCode(Napi::Error::New(env,
                                   "mapView: the mapping is read-only (PROT_READ) and a JavaScript view "
                                   "cannot be; copy with mapRead instead"),
                  "ERR_DMABUF_READ_ONLY");
}

// napi_detach_arraybuffer would abort the process on a keyed (fast path) view.
napi_status DetachView(Mappings& state, napi_env env, const Mapping& m, napi_value buffer) {
  if (!m.keyed) return napi_detach_arraybuffer(env, buffer);
  return state.hooks.detach ? state.hooks.detach(state.hooks.data, env, buffer) : napi_generic_failure;
}

// A fast-path view: not counted as external memory, no finalizer, untransferable.
napi_value KeyedView(Mappings& state, Napi::Env env, Mapping& m) {
  napi_value buffer;
  if (state.hooks.create(state.hooks.data, env, m.addr, m.length, &buffer) != napi_ok)
    throw Napi::Error::New(env);  // takes the pending exception, if any
  m.keyed = true;
  if (napi_create_reference(env, buffer, 1, &m.view) != napi_ok) {
    state.hooks.detach(state.hooks.data, env, buffer);
    throw Napi::Error::New(env);
  }
  return buffer;
}

void Copy(const Napi::CallbackInfo& info, bool write) {
  const char* op = write ? "mapWrite" : "mapRead";
  Napi::Env env = info.Env();
  Mapping& m = Find(State(env), env, ArgHandle(info[0]), op);
  const uint64_t offset = ArgSize(info[1], "offset");
  const Bytes bytes = ArgView(info[2], write ? "source" : "target");
  if (write && !m.writable)
    throw ErrnoError(env, -EACCES, {op, nullptr, -1, nullptr, "the mapping is read-only"});
  if (offset > m.length || bytes.length > m.length - offset) {
    const std::string msg = "Access of " + std::to_string(bytes.length) + " bytes at offset " +
                            std::to_string(offset) + " is outside the " + std::to_string(m.length) +
                            "-byte mapping";
    throw WithCode(Napi::RangeError::New(env, msg), "ERR_OUT_OF_RANGE");
  }
  if (bytes.length == 0) return;
  uint8_t* mapped = static_cast<uint8_t*>(m.addr) + offset;
  // memmove: the view may itself lie over this mapping.
  if (write)
    std::memmove(mapped, bytes.data, bytes.length);
  else
    std::memmove(bytes.data, mapped, bytes.length);
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ArgFd(info[0]);
  const auto length = static_cast<size_t>(ArgInt(info[1], "length", 0, kMaxLength));
  const auto offset = static_cast<int64_t>(ArgSize(info[2], "offset"));
  const bool writable = ArgBool(info[3], "writable");
  // Optional: map `skip` more bytes in front and show only [skip, skip + length).
  const auto skip =
      info[4].IsUndefined()
          ? size_t{0}
          : static_cast<size_t>(ArgInt(info[4], "skip", 0, kMaxLength - static_cast<int64_t>(length)));
  Mappings& state = State(env);
  if (state.next_handle == 0)
    throw ErrnoError(env, -EMFILE, {"mmap", nullptr, fd, nullptr, "out of mapping handles"});
  void* base = nullptr;
  Check(env, sys::Mmap(fd, skip + length, offset, writable, &base), {"mmap", nullptr, fd});
  const uint32_t handle = state.next_handle++;
  state.live.emplace(
      handle, Mapping{static_cast<uint8_t*>(base) + skip, length, new Region(base, skip + length), writable});
  return Napi::Number::New(env, handle);
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mappings& state = State(env);
  const uint32_t handle = ArgHandle(info[0]);
  Mapping& m = Find(state, env, handle, "munmap");
  if (m.view) {
    // Detach first, so no TypedArray can reach the memory once it is unmapped. Already
    // detached: transfer() moved the memory into an ArrayBuffer out of reach.
    napi_value buffer;
    bool detached = false;
    if (napi_get_reference_value(env, m.view, &buffer) != napi_ok ||
        napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok ||
        (!detached && DetachView(state, env, m, buffer) != napi_ok))
      throw Napi::Error::New(env);
    napi_delete_reference(env, m.view);
    m.view = nullptr;
    m.moved = m.moved || detached;
  }
  Region* r = m.region;
  const bool moved = m.moved;
  state.live.erase(handle);  // m is gone from here on
  int err = 0;
  if (!moved) {
    err = sys::Munmap(r->base, r->length);
    r->unmapped = err == 0;
  } else if (sys::MapAnonymousOver(r->base, r->length) == 0) {
    r->parked = true;
    parked_regions++;
  }
  // If even that failed, the file stays mapped until the last finalizer unmaps it.
  r->Unref();
  Check(env, err, {"munmap"});
  return env.Undefined();
}

Napi::Value MapView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mappings& state = State(env);
  Mapping& m = Find(state, env, ArgHandle(info[0]), "mapView");
  if (state.copy_forced) throw NoExternalBuffers(env);
  // JS has no read-only ArrayBuffer: a view over a PROT_READ mapping would take a store
  // and the process would die of SIGSEGV (so would a native copy into it). Never make one.
  if (!m.writable) throw ReadOnlyView(env);
  napi_value buffer;
  if (m.view) {
    bool detached = false;
    if (napi_get_reference_value(env, m.view, &buffer) != napi_ok ||
        napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok)
      throw Napi::Error::New(env);
    if (!detached) return Napi::Value(env, buffer);
    // transfer() moved this view's memory elsewhere: make a new one, and remember that
    // another ArrayBuffer may still reach the range.
    m.moved = true;
    napi_delete_reference(env, m.view);
    m.view = nullptr;
  }
  if (state.hooks.create) return Napi::Value(env, KeyedView(state, env, m));
  m.keyed = false;
  // The C API, not Napi::ArrayBuffer::New, so that this status can be told apart. The
  // finalizer runs when the last holder of the memory is gone (Region).
  m.region->refs++;
  const napi_status status =
      napi_create_external_arraybuffer(env, m.addr, m.length, Region::Finalize, m.region, &buffer);
  if (status != napi_ok) m.region->refs--;  // no finalizer will run
  if (status == napi_no_external_buffers_allowed) {
    state.external_allowed = 0;
    throw NoExternalBuffers(env);
  }
  if (status != napi_ok || napi_create_reference(env, buffer, 1, &m.view) != napi_ok)
    throw Napi::Error::New(env);
  return Napi::Value(env, buffer);
}

Napi::Value MapRead(const Napi::CallbackInfo& info) {
  Copy(info, false);
  return info.Env().Undefined();
}

Napi::Value MapWrite(const Napi::CallbackInfo& info) {
  Copy(info, true);
  return info.Env().Undefined();
}

Napi::Value SetCopyMode(const Napi::CallbackInfo& info) {
  State(info.Env()).copy_forced = ArgBool(info[0], "forced");
  return info.Env().Undefined();
}

Napi::Value ExternalBuffersAllowed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mappings& state = State(env);
  if (state.copy_forced) return Napi::Boolean::New(env, false);
  if (state.external_allowed < 0) {
    static char probe_byte;
    napi_value buffer;
    const napi_status status =
        napi_create_external_arraybuffer(env, &probe_byte, 1, nullptr, nullptr, &buffer);
    if (status == napi_ok) {
      if (napi_detach_arraybuffer(env, buffer) != napi_ok) throw Napi::Error::New(env);
    } else if (status != napi_no_external_buffers_allowed) {
      throw Napi::Error::New(env);
    }
    state.external_allowed = status == napi_ok;
  }
  return Napi::Boolean::New(env, state.external_allowed == 1);
}

// installViewHooks(install, abi, mark): the fast path's install(hooks, abi, mark) fills in
// this environment's table; from then on mapView makes its views with it (and it calls
// mark(buffer) on each). Throws, leaving the table empty, if install throws or fills in too little.
Napi::Value InstallViewHooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mappings& state = State(env);
  if (!info[0].IsFunction()) throw ArgTypeError(info[0], "install", "of type function");
  const std::string abi = ArgString(info[1], "abi");
  if (!info[2].IsFunction()) throw ArgTypeError(info[2], "mark", "of type function");
  if (state.hooks.create || !state.live.empty())
    throw Napi::Error::New(env, "installViewHooks: hooks already installed, or mappings already made");
  info[0].As<Napi::Function>().Call(
      {Napi::External<ViewHooks>::New(env, &state.hooks), Napi::String::New(env, abi), info[2]});
  const ViewHooks& h = state.hooks;
  if (!h.create || !h.detach || !h.release || !h.data || h.version != kViewHooksVersion) {
    if (h.release && h.data) h.release(h.data);
    state.hooks = ViewHooks{kViewHooksVersion, 0, nullptr, nullptr, nullptr, nullptr};
    throw Napi::Error::New(env, "installViewHooks: install() left the hook table incomplete");
  }
  return Napi::Number::New(env, h.abi);
}

Napi::Value MappingCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(State(info.Env()).live.size()));
}

Napi::Value ParkedMappingCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(parked_regions.load()));
}

}  // namespace

void RegisterMapping(Napi::Env env, Napi::Object exports) {
  EnvState::Of(env).SetPart(EnvState::kMappings, std::make_unique<Mappings>());
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"mmap", Mmap},
      {"munmap", Munmap},
      {"mapView", MapView},
      {"mapRead", MapRead},
      {"mapWrite", MapWrite},
      {"setCopyMode", SetCopyMode},
      {"externalBuffersAllowed", ExternalBuffersAllowed},
      {"installViewHooks", InstallViewHooks},
      {"mappingCount", MappingCount},
      {"parkedMappingCount", ParkedMappingCount},
  };
  for (const auto& [name, cb] : fns) exports.Set(name, Napi::Function::New(env, cb, name));
}

}  // namespace dmabuf
