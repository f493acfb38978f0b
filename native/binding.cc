// Registration: each export reads its arguments, makes one sys call and converts the result.
#include <napi.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include <cstdio>
#include <string>
#include <vector>

#include "channel.h"
#include "errors.h"
#include "mapping.h"
#include "watcher.h"
#include "fence.h"
#include "sys/dmabuf.h"
#include "sys/fd.h"

namespace dmabuf {
namespace {

using Info = const Napi::CallbackInfo&;

Napi::Value Num(Info info, double v) { return Napi::Number::New(info.Env(), v); }
Napi::Value Void(Info info) { return info.Env().Undefined(); }

SysCall IoctlCall(const char* name, int fd) { return {"ioctl", name, fd}; }

std::vector<uapi::udmabuf_create_item> ArgItems(Napi::Value v) {
  const char* expected = "an array of [memfd, offset, size] triples";
  if (!v.IsArray()) throw ArgTypeError(v, "items", expected);
  const Napi::Array array = v.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (n % 3 != 0) throw ArgTypeError(v, "items", expected + std::string(" (length a multiple of 3)"));
  std::vector<uapi::udmabuf_create_item> items;
  for (uint32_t i = 0; i < n; i += 3) {
    const auto name = [i](uint32_t k) { return "items[" + std::to_string(i + k) + "]"; };
    uapi::udmabuf_create_item item = {};
    item.memfd = ArgFd(array.Get(i), name(0).c_str());
    item.offset = ArgSize(array.Get(i + 1), name(1).c_str());
    item.size = ArgSize(array.Get(i + 2), name(2).c_str());
    items.push_back(item);
  }
  return items;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  const std::pair<const char*, double> values[] = {
      {"PAGE_SIZE", static_cast<double>(sys::PageSize())},
      {"MFD_CLOEXEC", MFD_CLOEXEC},
      {"MFD_ALLOW_SEALING", MFD_ALLOW_SEALING},
      {"MFD_HUGETLB", MFD_HUGETLB},
      {"F_SEAL_SEAL", F_SEAL_SEAL},
      {"F_SEAL_SHRINK", F_SEAL_SHRINK},
      {"F_SEAL_GROW", F_SEAL_GROW},
      {"F_SEAL_WRITE", F_SEAL_WRITE},
      {"F_SEAL_FUTURE_WRITE", F_SEAL_FUTURE_WRITE},
      {"O_RDONLY", O_RDONLY},
      {"O_WRONLY", O_WRONLY},
      {"O_RDWR", O_RDWR},
      {"O_CLOEXEC", O_CLOEXEC},
      {"O_NONBLOCK", O_NONBLOCK},
      {"POLLIN", POLLIN},
      {"POLLOUT", POLLOUT},
      {"POLLERR", POLLERR},
      {"POLLHUP", POLLHUP},
      {"POLLNVAL", POLLNVAL},
      {"DMA_BUF_SYNC_READ", uapi::DMA_BUF_SYNC_READ},
      {"DMA_BUF_SYNC_WRITE", uapi::DMA_BUF_SYNC_WRITE},
      {"DMA_BUF_SYNC_RW", uapi::DMA_BUF_SYNC_RW},
      {"DMA_BUF_SYNC_START", uapi::DMA_BUF_SYNC_START},
      {"DMA_BUF_SYNC_END", uapi::DMA_BUF_SYNC_END},
      {"DMA_BUF_NAME_LEN", uapi::DMA_BUF_NAME_LEN},
      {"DMA_BUF_MAGIC", uapi::DMA_BUF_MAGIC},
      {"UDMABUF_FLAGS_CLOEXEC", uapi::UDMABUF_FLAGS_CLOEXEC},
  };
  for (const auto& [name, value] : values) c.Set(name, value);
  c.Freeze();
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitMappings(env);
  auto fn = [&](const char* name, Napi::Function::Callback cb) {
    exports.Set(name, Napi::Function::New(env, cb, name));
  };
  exports.Set("constants", Constants(env));
  RegisterErrors(env, exports);
  FdWatcher::Init(env, exports);
  InitChannel(env, exports);
  InitFences(env, exports);

  fn("memfdCreate", [](Info info) {
    const std::string name = ArgString(info[0], "name");
    return Num(info, Check(info.Env(), sys::MemfdCreate(name.c_str(), ArgFlags(info[1])), {"memfd_create"}));
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
  fn("open", [](Info info) {
    const std::string path = ArgString(info[0], "path");
    return Num(info, Check(info.Env(), sys::Open(path.c_str(), ArgFlags(info[1])),
                           {"open", nullptr, -1, path.c_str()}));
  });
  fn("close", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), sys::Close(fd), {"close", nullptr, fd});
    return Void(info);
  });
  fn("dup", [](Info info) {
    const int fd = ArgFd(info[0]);
    return Num(info, Check(info.Env(), sys::Dup(fd), {"fcntl", nullptr, fd}));
  });
  fn("dup2", [](Info info) {
    const int oldfd = ArgFd(info[0], "oldfd");
    Check(info.Env(), sys::Dup2(oldfd, ArgFd(info[1], "newfd")), {"dup3", nullptr, oldfd});
    return Void(info);
  });
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

  fn("udmabufCreate", [](Info info) {
    const int dev_fd = ArgFd(info[0], "devFd");
    const int memfd = ArgFd(info[1], "memfd");
    const uint64_t offset = ArgSize(info[2], "offset");
    const uint64_t size = ArgSize(info[3], "size");
    const int r = sys::UdmabufCreate(dev_fd, memfd, offset, size, ArgFlags(info[4]));
    return Num(info, Check(info.Env(), r, IoctlCall("UDMABUF_CREATE", dev_fd)));
  });
  fn("udmabufCreateList", [](Info info) {
    const int dev_fd = ArgFd(info[0], "devFd");
    const auto items = ArgItems(info[1]);
    const int r = sys::UdmabufCreateList(dev_fd, items, ArgFlags(info[2]));
    return Num(info, Check(info.Env(), r, IoctlCall("UDMABUF_CREATE_LIST", dev_fd)));
  });
  fn("dmaHeapAlloc", [](Info info) {
    const int heap_fd = ArgFd(info[0], "heapFd");
    const uint64_t len = ArgSize(info[1], "len");
    const uint32_t fd_flags = ArgFlags(info[2], "fdFlags");
    const int r = sys::DmaHeapAlloc(heap_fd, len, fd_flags, ArgSize(info[3], "heapFlags"));
    return Num(info, Check(info.Env(), r, IoctlCall("DMA_HEAP_IOCTL_ALLOC", heap_fd)));
  });

  fn("dmaBufSync", [](Info info) {
    const int fd = ArgFd(info[0]);
    Check(info.Env(), sys::DmaBufSync(fd, ArgFlags(info[1])), IoctlCall("DMA_BUF_IOCTL_SYNC", fd));
    return Void(info);
  });
  fn("dmaBufSetName", [](Info info) {
    const int fd = ArgFd(info[0]);
    const std::string name = ArgString(info[1], "name");
    Check(info.Env(), sys::DmaBufSetName(fd, name.c_str()), IoctlCall("DMA_BUF_SET_NAME_B", fd));
    return Void(info);
  });
  fn("dmaBufExportSyncFile", [](Info info) {
    const int fd = ArgFd(info[0]);
    const int r = sys::DmaBufExportSyncFile(fd, ArgFlags(info[1]));
    return Num(info, Check(info.Env(), r, IoctlCall("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", fd)));
  });
  fn("dmaBufImportSyncFile", [](Info info) {
    const int fd = ArgFd(info[0]);
    const uint32_t flags = ArgFlags(info[1]);
    Check(info.Env(), sys::DmaBufImportSyncFile(fd, flags, ArgFd(info[2], "syncFileFd")),
          IoctlCall("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", fd));
    return Void(info);
  });

  fn("ioctl", [](Info info) {
    const int fd = ArgFd(info[0]);
    const uint32_t request = ArgFlags(info[1], "request");
    const Bytes data = ArgView(info[2], "data");
    // The kernel copies _IOC_SIZE bytes in or out; never let that run past the view.
    if (_IOC_SIZE(request) > data.length) {
      const std::string msg = "The \"data\" argument must be at least " + std::to_string(_IOC_SIZE(request)) +
                              " bytes, the size the request encodes. Received " + std::to_string(data.length);
      throw WithCode(Napi::RangeError::New(info.Env(), msg), "ERR_OUT_OF_RANGE");
    }
    char name[16];
    std::snprintf(name, sizeof name, "0x%x", request);
    return Num(info, Check(info.Env(), sys::Ioctl(fd, request, data.data), IoctlCall(name, fd)));
  });

  fn("mmap", Mmap);
  fn("munmap", Munmap);
  fn("mapView", MapView);
  fn("mapRead", MapRead);
  fn("mapWrite", MapWrite);
  fn("setCopyMode", SetCopyMode);
  fn("externalBuffersAllowed", ExternalBuffersAllowed);
  fn("mappingCount", MappingCount);
  return exports;
}

}  // namespace
}  // namespace dmabuf

using dmabuf::Init;
NODE_API_MODULE(dmabuf, Init)
