// Glue for tests only: `_testing` reaches the fault-injection seam in sys/seam.h, so a test
// can make the next ioctl, sendmsg or recvmsg on this thread fail with a chosen errno
// (EINTR, EAGAIN, …) and watch the restart loops above it. Nothing else uses it.
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "register.h"
#include "sys/seam.h"

namespace dmabuf {
namespace {

using Info = const Napi::CallbackInfo&;

sys::Call ArgCall(Napi::Value v) {
  static const std::pair<const char*, sys::Call> kCalls[] = {
      {"ioctl", sys::Call::kIoctl},
      {"sendmsg", sys::Call::kSendmsg},
      {"recvmsg", sys::Call::kRecvmsg},
  };
  const char* expected = "one of 'ioctl', 'sendmsg', 'recvmsg'";
  if (!v.IsString()) throw ArgTypeError(v, "call", expected);
  const std::string name = v.As<Napi::String>().Utf8Value();
  for (const auto& [n, call] : kCalls)
    if (name == n) return call;
  const std::string msg =
      std::string("The argument 'call' must be ") + expected + ". Received '" + name + "'";
  throw WithCode(Napi::TypeError::New(v.Env(), msg), "ERR_INVALID_ARG_VALUE");
}

// injectErrno(call, errnos): this thread's next `call`s fail with errnos[0], errnos[1], …
// (positive errno values) without reaching the kernel.
Napi::Value InjectErrno(Info info) {
  const sys::Call call = ArgCall(info[0]);
  const Napi::Value v = info[1];
  if (!v.IsArray()) throw ArgTypeError(v, "errnos", "an array of positive errno values");
  const Napi::Array array = v.As<Napi::Array>();
  std::vector<int> errnos;
  for (uint32_t i = 0; i < array.Length(); i++)
    errnos.push_back(
        static_cast<int>(ArgInt(array.Get(i), ("errnos[" + std::to_string(i) + "]").c_str(), 1, 4095)));
  if (sys::InjectErrnos(call, errnos.data(), errnos.size()) < 0) {
    const std::string msg = "At most " + std::to_string(sys::kMaxInjected) +
                            " errnos may be pending per call. Received " + std::to_string(errnos.size()) +
                            " more with " + std::to_string(sys::PendingInjected(call)) + " pending";
    throw WithCode(Napi::RangeError::New(info.Env(), msg), "ERR_OUT_OF_RANGE");
  }
  return info.Env().Undefined();
}

// pendingInjected(call) → how many injected errnos this thread's `call`s have not yet taken.
Napi::Value PendingInjected(Info info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sys::PendingInjected(ArgCall(info[0]))));
}

// clearInjected(): drops everything this thread queued.
Napi::Value ClearInjected(Info info) {
  sys::ClearInjected();
  return info.Env().Undefined();
}

}  // namespace

void RegisterTesting(Napi::Env env, Napi::Object exports) {
  Napi::Object testing = Napi::Object::New(env);
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"injectErrno", InjectErrno},
      {"pendingInjected", PendingInjected},
      {"clearInjected", ClearInjected},
  };
  for (const auto& [name, cb] : fns) testing.Set(name, Napi::Function::New(env, cb, name));
  testing.Freeze();
  exports.Set("_testing", testing);
}

}  // namespace dmabuf
