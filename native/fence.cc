// Glue for sync_file objects (SYNC_IOC_FILE_INFO, SYNC_IOC_MERGE).
#include <cstring>
#include <string>
#include <vector>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/sync_file.h"

namespace dmabuf {
namespace {

std::string Str(const char* s, size_t n) { return std::string(s, strnlen(s, n)); }

// syncFileInfo(fd) → { name, status, flags, fences: [{ objName, driverName, status, flags, timestampNs }] }
Napi::Value SyncFileInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ArgFd(info[0]);
  uapi::sync_file_info file;
  std::vector<uapi::sync_fence_info> fences;
  Check(env, sys::SyncFileInfo(fd, &file, &fences), {"ioctl", "SYNC_IOC_FILE_INFO", fd});
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Str(file.name, sizeof file.name));
  out.Set("status", file.status);
  out.Set("flags", file.flags);
  Napi::Array list = Napi::Array::New(env, fences.size());
  for (size_t i = 0; i < fences.size(); i++) {
    const auto& f = fences[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("objName", Str(f.obj_name, sizeof f.obj_name));
    o.Set("driverName", Str(f.driver_name, sizeof f.driver_name));
    o.Set("status", f.status);
    o.Set("flags", f.flags);
    o.Set("timestampNs", Napi::BigInt::New(env, static_cast<uint64_t>(f.timestamp_ns)));
    list.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("fences", list);
  return out;
}

// syncFileMerge(fd, fd2, name) → the merged sync_file's fd.
Napi::Value SyncFileMerge(const Napi::CallbackInfo& info) {
  const int fd = ArgFd(info[0]);
  const int fd2 = ArgFd(info[1], "fd2");
  const std::string name = ArgString(info[2], "name");
  const int r = sys::SyncFileMerge(fd, fd2, name.c_str());
  return Napi::Number::New(info.Env(),
                           OwnFd(info.Env(), Check(info.Env(), r, {"ioctl", "SYNC_IOC_MERGE", fd})));
}

}  // namespace

void RegisterFence(Napi::Env env, Napi::Object exports) {
  exports.Set("syncFileInfo", Napi::Function::New(env, SyncFileInfo, "syncFileInfo"));
  exports.Set("syncFileMerge", Napi::Function::New(env, SyncFileMerge, "syncFileMerge"));
}

}  // namespace dmabuf
