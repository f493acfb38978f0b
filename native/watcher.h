// FdWatcher: readiness of an fd on the Node event loop (libuv uv_poll_t), never blocking it.
#pragma once

#include <napi.h>
#include <uv.h>

namespace dmabuf {

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
  void Release();

  uv_poll_t* handle_ = nullptr;  // freed by uv_close's callback
  Napi::FunctionReference callback_;
  Napi::AsyncContext context_;
  int fd_;
  bool active_ = false;
};

}  // namespace dmabuf
