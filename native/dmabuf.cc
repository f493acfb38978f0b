// Glue for udmabuf and DMA heap allocation and the dma-buf fd ioctls: each export reads
// its arguments, makes one sys call and converts the result.
#include <sys/ioctl.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/dmabuf.h"

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

}  // namespace

void RegisterDmaBuf(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Function::Callback cb) {
    exports.Set(name, Napi::Function::New(env, cb, name));
  };
  fn("udmabufCreate", [](Info info) {
    const int dev_fd = ArgFd(info[0], "devFd");
    const int memfd = ArgFd(info[1], "memfd");
    const uint64_t offset = ArgSize(info[2], "offset");
    const uint64_t size = ArgSize(info[3], "size");
    const int r = sys::UdmabufCreate(dev_fd, memfd, offset, size, ArgFlags(info[4]));
    return Num(info, OwnFd(info.Env(), Check(info.Env(), r, IoctlCall("UDMABUF_CREATE", dev_fd))));
  });
  fn("udmabufCreateList", [](Info info) {
    const int dev_fd = ArgFd(info[0], "devFd");
    const auto items = ArgItems(info[1]);
    const int r = sys::UdmabufCreateList(dev_fd, items, ArgFlags(info[2]));
    return Num(info, OwnFd(info.Env(), Check(info.Env(), r, IoctlCall("UDMABUF_CREATE_LIST", dev_fd))));
  });
  fn("dmaHeapAlloc", [](Info info) {
    const int heap_fd = ArgFd(info[0], "heapFd");
    const uint64_t len = ArgSize(info[1], "len");
    const uint32_t fd_flags = ArgFlags(info[2], "fdFlags");
    const int r = sys::DmaHeapAlloc(heap_fd, len, fd_flags, ArgSize(info[3], "heapFlags"));
    return Num(info, OwnFd(info.Env(), Check(info.Env(), r, IoctlCall("DMA_HEAP_IOCTL_ALLOC", heap_fd))));
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
    return Num(info,
               OwnFd(info.Env(), Check(info.Env(), r, IoctlCall("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", fd))));
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
    char name[16];
    std::snprintf(name, sizeof name, "0x%x", request);
    const unsigned size = _IOC_SIZE(request);
    if (_IOC_DIR(request) == _IOC_NONE) {
      // Legacy numbers (FIONREAD, TCGETS, SIOCGIFCONF, …) encode neither direction nor
      // size, yet their handlers write through the argument as much as they like, and
      // SIOCGIFCONF follows a user pointer inside the struct. Nothing bounds that, so no
      // pointer is ever passed: the kernel gets 0, and `data` must be empty.
      if (data.length != 0) {
        const std::string msg = "The \"data\" argument must be empty for request " + std::string(name) +
                                ", which encodes no direction and no size (_IOC_NONE): the kernel could "
                                "read or write any amount through the pointer. Received " +
                                std::to_string(data.length) + " bytes";
        throw WithCode(Napi::TypeError::New(info.Env(), msg), "ERR_INVALID_ARG_VALUE");
      }
      return Num(info, Check(info.Env(), sys::Ioctl(fd, request, nullptr), IoctlCall(name, fd)));
    }
    if (size == 0) {
      const std::string msg = "The \"request\" argument must encode the size of its data. Received " +
                              std::string(name) + ", which has a direction but size 0";
      throw WithCode(Napi::TypeError::New(info.Env(), msg), "ERR_INVALID_ARG_VALUE");
    }
    // The kernel copies _IOC_SIZE bytes in or out; never let that run past the view.
    if (size > data.length) {
      const std::string msg = "The \"data\" argument must be at least " + std::to_string(size) +
                              " bytes, the size the request encodes. Received " + std::to_string(data.length);
      throw WithCode(Napi::RangeError::New(info.Env(), msg), "ERR_OUT_OF_RANGE");
    }
    return Num(info, Check(info.Env(), sys::Ioctl(fd, request, data.data), IoctlCall(name, fd)));
  });
}

}  // namespace dmabuf
