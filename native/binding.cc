// Registration only: the per-environment state (env.h), the constants (constants.cc),
// the errno table (errors.cc), then one Register<Area> per glue file (register.h).
#include <napi.h>

#include "constants.h"
#include "env.h"
#include "errors.h"
#include "register.h"

namespace dmabuf {
namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitEnv(env);  // first: every area keeps its per-environment state there
  RegisterConstants(env, exports);
  RegisterErrors(env, exports);
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
