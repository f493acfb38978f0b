// The glue files: each binds one area's sys/ calls to JS and adds its exports with one
// Register<Area>. binding.cc calls them all; nothing else is shared between them.
#pragma once

#include <napi.h>

namespace dmabuf {

// fd.cc: memfds, seals, open/close/dup, fstat, fstatfs, poll.
void RegisterFd(Napi::Env env, Napi::Object exports);
// dmabuf.cc: udmabuf and DMA heap allocation, the dma-buf ioctls, the raw ioctl passthrough.
void RegisterDmaBuf(Napi::Env env, Napi::Object exports);
// fence.cc: sync_file info and merge.
void RegisterFence(Napi::Env env, Napi::Object exports);
// mapping.cc: mmap(MAP_SHARED) mappings owned by this environment, their views and copies.
void RegisterMapping(Napi::Env env, Napi::Object exports);
// socket.cc: AF_UNIX SOCK_SEQPACKET sockets that carry fds.
void RegisterSocket(Napi::Env env, Napi::Object exports);
// transfer.cc: the process-wide table of fds in transit to worker threads.
void RegisterTransfer(Napi::Env env, Napi::Object exports);
// watcher.cc: FdWatcher, an fd's readiness on the event loop.
void RegisterWatcher(Napi::Env env, Napi::Object exports);
// testing.cc: `_testing`, the fault-injection seam (sys/seam.h), for tests only.
void RegisterTesting(Napi::Env env, Napi::Object exports);

}  // namespace dmabuf
