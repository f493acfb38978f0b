// Glue for FdWatcher: readiness of an fd on the Node event loop (libuv uv_poll_t), never
// blocking it.
#include <uv.h>

#include <cerrno>
#include <unordered_set>
#include <utility>

#include "env.h"
#include "errors.h"
#include "register.h"

namespace dmabuf {
namespace {

class FdWatcher;

// This environment's open watchers, so that its teardown can close their uv handles.
struct Watchers : EnvPart {
  std::unordered_set<FdWatcher*> open;
  void Teardown() override;
};

Watchers& WatchersOf(Napi::Env env) {
  return *static_cast<Watchers*>(EnvState::Of(env).Part(EnvState::kWatchers));
}

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit FdWatcher(const Napi::CallbackInfo& info);
  ~FdWatcher() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  // Stops and closes the uv handle (idempotent), without Node-API calls. The close ends
  // in a callback on the loop, which the environment's teardown waits for.
  void CloseHandle();
  void Release();

  friend struct Watchers;
  EnvState& state_;
  Watchers& watchers_;
  uv_poll_t* handle_ = nullptr;  // freed by uv_close's callback
  Napi::FunctionReference callback_;
  Napi::AsyncContext context_;
  int fd_;
  bool active_ = false;
};

void FdWatcher::Init(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", DefineClass(env, "FdWatcher",
                                       {InstanceMethod<&FdWatcher::Start>("start"),
                                        InstanceMethod<&FdWatcher::Stop>("stop"),
                                        InstanceMethod<&FdWatcher::Close>("close")}));
}

// new FdWatcher(fd, callback(status, events)): status is 0 or a negative errno.
FdWatcher::FdWatcher(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<FdWatcher>(info),
      state_(EnvState::Of(info.Env())),
      watchers_(WatchersOf(info.Env())),
      context_(info.Env(), "dmabuf:FdWatcher"),
      fd_(ArgFd(info[0])) {
  if (!info[1].IsFunction()) throw ArgTypeError(info[1], "callback", "a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok)
    throw Napi::Error::New(info.Env(), "no event loop");
  handle_ = new uv_poll_t;
  const int r = uv_poll_init(loop, handle_, fd_);
  if (r < 0) {
    delete handle_;
    handle_ = nullptr;
    throw ErrnoError(info.Env(), r, {"uv_poll_init", nullptr, fd_});
  }
  handle_->data = this;
  callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  watchers_.open.insert(this);
}

FdWatcher::~FdWatcher() { Release(); }

void FdWatcher::CloseHandle() {
  if (handle_ == nullptr) return;
  watchers_.open.erase(this);
  uv_poll_stop(handle_);
  // The callback is this addon's code: the environment's teardown must not end (and the
  // addon must not be unloaded) before it has run.
  handle_->data = &state_;
  state_.Hold();
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) {
    auto* state = static_cast<EnvState*>(h->data);
    delete reinterpret_cast<uv_poll_t*>(h);
    state->Release();
  });
  handle_ = nullptr;
}

void FdWatcher::Release() {
  CloseHandle();
  if (active_) Unref();
  active_ = false;
}

// worker.terminate() (or any end of the environment) with watchers still open: a channel,
// a server, a pending fence wait. Their JS objects are never closed, and the wrappers' refs
// go with the environment, so no Unref here.
void Watchers::Teardown() {
  const auto all = std::move(open);
  open.clear();
  for (FdWatcher* w : all) {
    w->CloseHandle();
    w->active_ = false;
  }
}

// start(events): UV_READABLE (POLLIN) | UV_WRITABLE (POLLOUT); keeps the watcher alive while active.
Napi::Value FdWatcher::Start(const Napi::CallbackInfo& info) {
  const int events = static_cast<int>(
      ArgInt(info[0], "events", 1, UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED));
  if (handle_ == nullptr)
    throw ErrnoError(info.Env(), -EBADF, {"uv_poll_start", nullptr, fd_, nullptr, "the watcher is closed"});
  const int r = uv_poll_start(handle_, events, OnPoll);
  if (r < 0) throw ErrnoError(info.Env(), r, {"epoll_ctl", nullptr, fd_});
  if (!active_) Ref();
  active_ = true;
  return info.Env().Undefined();
}

Napi::Value FdWatcher::Stop(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr) uv_poll_stop(handle_);
  if (active_) Unref();
  active_ = false;
  return info.Env().Undefined();
}

Napi::Value FdWatcher::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

void FdWatcher::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<FdWatcher*>(handle->data);
  if (self == nullptr) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  try {
    self->callback_.MakeCallback(
        env.Global(), {Napi::Number::New(env, status), Napi::Number::New(env, events)}, self->context_);
  } catch (const Napi::Error& e) {
    // The callback threw. Unwinding into libuv would std::terminate() the process; hand the
    // error to Node instead, which reports it as uncaught ('uncaughtException'), as it
    // does for its own handles.
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace

void RegisterWatcher(Napi::Env env, Napi::Object exports) {
  EnvState::Of(env).SetPart(EnvState::kWatchers, std::make_unique<Watchers>());
  FdWatcher::Init(env, exports);
}

}  // namespace dmabuf
