// Node glue for AF_UNIX SOCK_SEQPACKET channels (fd passing) and the process-wide table
// of fds handed to worker threads.
#pragma once

#include <napi.h>

namespace dmabuf {

void InitChannel(Napi::Env env, Napi::Object exports);

}  // namespace dmabuf
