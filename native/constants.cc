// exports.constants: see constants.h.
#include "constants.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include <utility>

#include "sys/fd.h"
#include "sys/uapi.h"

namespace dmabuf {

void RegisterConstants(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  const std::pair<const char*, double> values[] = {
      // sysconf(_SC_PAGESIZE): 4096 on x86-64, 16384 on arm64 kernels with 16 KiB pages.
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
      {"O_RDWR", O_RDWR},
      {"O_WRONLY", O_WRONLY},
      {"O_ACCMODE", O_ACCMODE},
      {"O_CLOEXEC", O_CLOEXEC},
      {"O_NONBLOCK", O_NONBLOCK},
      {"POLLIN", POLLIN},
      {"POLLOUT", POLLOUT},
      {"DMA_BUF_MAGIC", uapi::DMA_BUF_MAGIC},
      {"UDMABUF_FLAGS_CLOEXEC", uapi::UDMABUF_FLAGS_CLOEXEC},
  };
  for (const auto& [name, value] : values) c.Set(name, value);
  c.Freeze();
  exports.Set("constants", c);
}

}  // namespace dmabuf
