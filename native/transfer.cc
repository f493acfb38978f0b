// Glue for fds handed to worker threads: dup'ed here, taken once by the receiver (or by a
// cleanup) there.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/fd.h"

namespace dmabuf {
namespace {

using Info = const Napi::CallbackInfo&;

// Fds dup'ed for worker threads: fds are process-wide, so the table is too (plain data,
// no JS references). Each entry can be taken once, by the receiver or by a cleanup.
struct TransferTable {
  std::mutex lock;
  std::unordered_map<int, double> tokens;
  std::atomic<int64_t> next{1};
};

TransferTable& Transfers() {
  static TransferTable* table = new TransferTable;  // never destroyed: workers may outlive static teardown
  return *table;
}

// transferPut(fd) → { fd, token }: a dup (O_CLOEXEC) registered as in transit.
Napi::Value TransferPut(Info info) {
  const int fd = ArgFd(info[0]);
  const int dup = static_cast<int>(Check(info.Env(), sys::Dup(fd), {"fcntl", "F_DUPFD_CLOEXEC", fd}));
  TransferTable& t = Transfers();
  const double token = static_cast<double>(t.next.fetch_add(1));
  {
    std::lock_guard<std::mutex> g(t.lock);
    t.tokens[dup] = token;
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fd", dup);
  o.Set("token", token);
  return o;
}

// transferTake(fd, token) → true when this entry was in transit (the caller, and its
// environment, now own fd). While in transit an fd belongs to no environment.
Napi::Value TransferTake(Info info) {
  const int fd = ArgFd(info[0]);
  const auto token = static_cast<double>(ArgInt(info[1], "token", 1, kMaxSafeInteger));
  TransferTable& t = Transfers();
  {
    std::lock_guard<std::mutex> g(t.lock);
    const auto it = t.tokens.find(fd);
    if (it == t.tokens.end() || it->second != token) return Napi::Boolean::New(info.Env(), false);
    t.tokens.erase(it);
  }
  OwnFd(info.Env(), fd);
  return Napi::Boolean::New(info.Env(), true);
}

Napi::Value TransferPending(Info info) {
  TransferTable& t = Transfers();
  std::lock_guard<std::mutex> g(t.lock);
  return Napi::Number::New(info.Env(), static_cast<double>(t.tokens.size()));
}

}  // namespace

void RegisterTransfer(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"transferPut", TransferPut},
      {"transferTake", TransferTake},
      {"transferPending", TransferPending},
  };
  for (const auto& [name, cb] : fns) exports.Set(name, Napi::Function::New(env, cb, name));
}

}  // namespace dmabuf
