#include "env.h"

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sys/fd.h"

namespace dmabuf {
namespace {

struct Owner {
  uint64_t env;
  uint64_t dev, ino;  // the file the fd named when owned
};

// Process-wide: fd → the environment that owns it. Plain data, no JS references; never
// destroyed, since a worker's teardown may outlive static destructors at process exit.
struct FdOwners {
  std::mutex lock;
  std::unordered_map<int, Owner> fds;
};

FdOwners& Owners() {
  static FdOwners* table = new FdOwners;
  return *table;
}

bool Identify(int fd, uint64_t* dev, uint64_t* ino) {
  sys::Stat st;
  if (sys::Fstat(fd, &st) < 0) return false;
  *dev = st.dev;
  *ino = st.ino;
  return true;
}

// Closes every fd `env` owns that still names the file it named when owned.
void CloseOwnedBy(uint64_t env) {
  std::vector<std::pair<int, Owner>> mine;
  {
    FdOwners& t = Owners();
    std::lock_guard<std::mutex> g(t.lock);
    for (auto it = t.fds.begin(); it != t.fds.end();) {
      if (it->second.env == env) {
        mine.emplace_back(*it);
        it = t.fds.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [fd, owner] : mine) {
    uint64_t dev, ino;
    if (Identify(fd, &dev, &ino) && dev == owner.dev && ino == owner.ino) sys::Close(fd);
  }
}

std::atomic<uint64_t> next_env_id{1};

}  // namespace

EnvState::EnvState() : id_(next_env_id.fetch_add(1)) {}

EnvState& EnvState::Of(Napi::Env env) { return *env.GetInstanceData<EnvState>(); }

void InitEnv(Napi::Env env) {
  if (env.GetInstanceData<EnvState>()) return;
  auto* state = new EnvState;
  // Deleted with the environment (after the teardown hook: the hook holds a reference to
  // the napi_env until it is removed).
  env.SetInstanceData(state);
  // No remove handle: the hook removes itself, once it has finished.
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_async_cleanup_hook(env, EnvState::OnTeardown, state, nullptr));
}

void EnvState::OnTeardown(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* self = static_cast<EnvState*>(arg);
  self->hook_ = hook;
  self->tearing_down_ = true;
  for (auto& part : self->parts_)
    if (part) part->Teardown();
  CloseOwnedBy(self->id_);
  self->MaybeFinish();
}

void EnvState::Release() {
  pending_--;
  MaybeFinish();
}

void EnvState::MaybeFinish() {
  if (!tearing_down_ || pending_ > 0 || hook_ == nullptr) return;
  napi_async_cleanup_hook_handle hook = hook_;
  hook_ = nullptr;
  napi_remove_async_cleanup_hook(hook);
}

int64_t OwnFd(Napi::Env env, int64_t fd) {
  if (fd < 0) return fd;
  Owner owner{EnvState::Of(env).id(), 0, 0};
  // An fd that cannot be identified is not one the teardown could ever close safely.
  if (!Identify(static_cast<int>(fd), &owner.dev, &owner.ino)) return fd;
  FdOwners& t = Owners();
  std::lock_guard<std::mutex> g(t.lock);
  t.fds[static_cast<int>(fd)] = owner;
  return fd;
}

int CloseFd(int fd) {
  {
    FdOwners& t = Owners();
    std::lock_guard<std::mutex> g(t.lock);
    t.fds.erase(fd);
  }
  return sys::Close(fd);
}

size_t OwnedFdCount(Napi::Env env) {
  const uint64_t id = EnvState::Of(env).id();
  FdOwners& t = Owners();
  std::lock_guard<std::mutex> g(t.lock);
  size_t n = 0;
  for (const auto& entry : t.fds) n += entry.second.env == id;
  return n;
}

}  // namespace dmabuf
