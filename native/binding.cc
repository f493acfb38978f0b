// Registration only: the per-environment state (env.h), the constants, then one
// Register<Area> per glue file (register.h).
#include <napi.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include <utility>

#include "env.h"
#include "register.h"
#include "sys/fd.h"
#include "sys/uapi.h"

namespace dmabuf {
namespace {

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
  InitEnv(env);  // first: every area keeps its per-environment state there
  exports.Set("constants", Constants(env));
  RegisterWatcher(env, exports);
  RegisterSocket(env, exports);
  RegisterTransfer(env, exports);
  RegisterFence(env, exports);
  RegisterFd(env, exports);
  RegisterDmaBuf(env, exports);
  RegisterMapping(env, exports);
  RegisterTesting(env, exports);
  return exports;
}

}  // namespace
}  // namespace dmabuf

using dmabuf::Init;
NODE_API_MODULE(dmabuf, Init)
