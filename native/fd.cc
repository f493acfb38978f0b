// Glue for memfds and plain fds: each export reads its arguments, makes one sys call and
// converts the result. Every fd made here is owned by the calling environment (env.h) until
// closed here, so that the environment's end closes what JS could not.
#include <cstdint>
#include <string>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/fd.h"

namespace dmabuf {
namespace {

using Info = const Napi::CallbackInfo&;

Napi::Value Num(Info info, double v) { return Napi::Number::New(info.Env(), v); }
Napi::Value Void(Info info) { return info.Env().Undefined(); }

}  // namespace

void RegisterFd(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Function::Callback cb) {
    exports.Set(name, Napi::Function::New(env, cb, name));
  };
  fn("memfdCreate", [](Info info) {
    const std::string name = ArgString(info[0], "name");
    const int r = sys::MemfdCreate(name.c_str(), ArgFlags(info[1]));
    return Num(info, OwnFd(info.Env(), Check(info.Env(), r, {"memfd_create"})));
  });
  fn("addSeals", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), sys::AddSeals(fd, ArgFlags(info[1], "seals")), {"fcntl", nullptr, fd});
    return Void(info);
  });
  fn("getSeals", [](Info info) {
    const int fd = ArgFd(info[0]);
    return Num(info, Check(info.Env(), sys::GetSeals(fd), {"fcntl", nullptr, fd}));
  });
  fn("ftruncate", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), sys::Ftruncate(fd, ArgSize(info[1], "size")), {"ftruncate", nullptr, fd});
    return Void(info);
  });
  fn("fallocate", [](Info info) {
    const int fd = ArgFd(info[0]);
    const int mode = static_cast<int>(ArgFlags(info[1], "mode"));
    Check(info.Env(), sys::Fallocate(fd, mode, ArgSize(info[2], "offset"), ArgSize(info[3], "length")),
          {"fallocate", nullptr, fd});
    return Void(info);
  });
  fn("open", [](Info info) {
    const std::string path = ArgString(info[0], "path");
    return Num(info, OwnFd(info.Env(), Check(info.Env(), sys::Open(path.c_str(), ArgFlags(info[1])),
                                             {"open", nullptr, -1, path.c_str()})));
  });
  fn("close", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), CloseFd(fd), {"close", nullptr, fd});
    return Void(info);
  });
  fn("dup", [](Info info) {
    const int fd = ArgFd(info[0]);
    return Num(info, OwnFd(info.Env(), Check(info.Env(), sys::Dup(fd), {"fcntl", nullptr, fd})));
  });
  fn("dup2", [](Info info) {
    const int oldfd = ArgFd(info[0], "oldfd");
    const int newfd = ArgFd(info[1], "newfd");
    Check(info.Env(), sys::Dup2(oldfd, newfd), {"dup3", nullptr, oldfd});
    OwnFd(info.Env(), newfd);  // it names another file now
    return Void(info);
  });
  // ownFd(fd): this environment now owns fd (taken over from a caller, or made by an ioctl).
  fn("ownFd", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), sys::GetFlags(fd), {"fcntl", nullptr, fd});  // EBADF for a closed fd
    OwnFd(info.Env(), fd);
    return Void(info);
  });
  fn("ownedFdCount", [](Info info) { return Num(info, static_cast<double>(OwnedFdCount(info.Env()))); });
  fn("fdSize", [](Info info) {
    const int fd = ArgFd(info[0]);
    return Num(info, static_cast<double>(Check(info.Env(), sys::FdSize(fd), {"lseek", nullptr, fd})));
  });
  fn("fstat", [](Info info) -> Napi::Value {
    const int fd = ArgFd(info[0]);
    sys::Stat st;
    Check(info.Env(), sys::Fstat(fd, &st), {"fstat", nullptr, fd});
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("size", static_cast<double>(st.size));
    o.Set("ino", static_cast<double>(st.ino));
    o.Set("mode", static_cast<double>(st.mode));
    o.Set("dev", static_cast<double>(st.dev));
    o.Set("rdev", static_cast<double>(st.rdev));
    o.Set("nlink", static_cast<double>(st.nlink));
    return o;
  });
  fn("fstatfsType", [](Info info) {
    const int fd = ArgFd(info[0]);
    uint64_t type;
    Check(info.Env(), sys::FstatfsType(fd, &type), {"fstatfs", nullptr, fd});
    return Num(info, static_cast<double>(type));
  });
  // probeFd(fd): fcntl, readlink, fstatfs, fstat, seals, size and fdinfo's exp_name in one
  // call (fromFd). Never throws
  // for the fd itself: `flags` < 0 is -errno (-EBADF: not open), the rest defaults.
  fn("probeFd", [](Info info) -> Napi::Value {
    const int fd = ArgFd(info[0]);
    sys::Probe p;
    sys::ProbeFd(fd, &p);
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("flags", p.flags);
    o.Set("link", p.link);
    o.Set("fsType", static_cast<double>(p.fs_type));
    o.Set("mode", static_cast<double>(p.st.mode));
    o.Set("ino", static_cast<double>(p.st.ino));
    o.Set("dev", static_cast<double>(p.st.dev));
    o.Set("seals", p.seals);
    o.Set("size", static_cast<double>(p.size));
    o.Set("expName", p.has_exp_name ? Napi::Value(Napi::String::New(env, p.exp_name)) : env.Null());
    return o;
  });
  // fdIdentity(fd, out): which file fd is, into a Float64Array of 4: F_GETFL (or -errno, and
  // the rest 0), st_dev, st_ino, st_size. No object is made (a channel asks it per message).
  fn("fdIdentity", [](Info info) -> Napi::Value {
    const int fd = ArgFd(info[0]);
    const Napi::Value v = info[1];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        v.As<Napi::TypedArray>().ElementLength() < 4)
      throw ArgTypeError(v, "out", "a Float64Array of length 4 or more");
    Napi::Float64Array out = v.As<Napi::Float64Array>();
    sys::Probe p;
    sys::ProbeFd(fd, &p, true);
    out[0] = p.flags;
    out[1] = static_cast<double>(p.st.dev);
    out[2] = static_cast<double>(p.st.ino);
    out[3] = static_cast<double>(p.st.size);
    return info.Env().Undefined();
  });
  fn("getFlags", [](Info info) {
    const int fd = ArgFd(info[0]);
    return Num(info, Check(info.Env(), sys::GetFlags(fd), {"fcntl", nullptr, fd}));
  });
  fn("poll", [](Info info) {
    const int fd = ArgFd(info[0]);
    const auto events = static_cast<short>(ArgInt(info[1], "events", 0, 0xffff));
    const auto timeout = static_cast<int>(ArgInt(info[2], "timeoutMs", -1, INT32_MAX));
    return Num(info, Check(info.Env(), sys::Poll(fd, events, timeout), {"poll", nullptr, fd}));
  });
}

}  // namespace dmabuf
