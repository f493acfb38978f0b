// Per-environment state, and what an environment's end releases.
//
// The main thread and every worker thread are environments of their own, each with one
// EnvState (napi_set_instance_data). worker.terminate() ends an environment without running
// any JS 'exit' handler, so what the environment holds is released here, natively, by an
// async cleanup hook (napi_add_async_cleanup_hook) when the environment is torn down:
//   1. every part's Teardown(), in slot order: watchers stop and uv_close their handles,
//      mappings are unmapped;
//   2. every fd the environment owns (OwnFd) is closed;
//   3. the hook ends only once every uv_close callback has run (Hold/Release), so that no
//      callback into this addon can run after the environment is gone and the addon
//      possibly unloaded (a worker that was the only one to load it).
// The same runs at a worker's normal end and at process exit, where it finds what JS left.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

namespace dmabuf {

// One area's per-environment state.
class EnvPart {
 public:
  virtual ~EnvPart() = default;
  // The environment is being torn down and no JS runs any more: release everything the part
  // holds, without calling into JS or Node-API (the environment is going away).
  virtual void Teardown() = 0;
};

class EnvState {
 public:
  // The parts, torn down in this order (watchers before the fds they watch are closed).
  enum Slot { kWatchers, kMappings, kSlotCount };

  static EnvState& Of(Napi::Env env);

  // Unique for the life of the process (a worker's id is never reused).
  uint64_t id() const { return id_; }

  EnvPart* Part(Slot slot) const { return parts_[slot].get(); }
  void SetPart(Slot slot, std::unique_ptr<EnvPart> part) { parts_[slot] = std::move(part); }

  // Something still to finish before teardown may end: a uv_close whose callback has not
  // run yet. Release() from that callback.
  void Hold() { pending_++; }
  void Release();

  bool tearing_down() const { return tearing_down_; }

 private:
  friend void InitEnv(Napi::Env env);
  EnvState();
  static void OnTeardown(napi_async_cleanup_hook_handle hook, void* arg);
  void MaybeFinish();

  uint64_t id_;
  std::unique_ptr<EnvPart> parts_[kSlotCount];
  int pending_ = 0;
  bool tearing_down_ = false;
  napi_async_cleanup_hook_handle hook_ = nullptr;
};

// Creates this environment's state and its teardown hook. The module's first act.
void InitEnv(Napi::Env env);

// fds owned by an environment: closed at its teardown, unless closed before through
// CloseFd. One process-wide table (fds are process-wide), so closing an fd in any
// environment forgets it, and the teardown closes an fd only while it still names the
// file it named when owned (st_dev, st_ino), never a number someone else has reused since.
//
// OwnFd returns fd (and does nothing for fd < 0, an error to pass on). Owning again moves
// the fd to this environment and records the file it names now (after dup3 onto it).
int64_t OwnFd(Napi::Env env, int64_t fd);
// Forgets fd, then closes it; returns 0 or -errno as sys::Close.
int CloseFd(int fd);
// Number of fds `env` owns (for tests).
size_t OwnedFdCount(Napi::Env env);

}  // namespace dmabuf
