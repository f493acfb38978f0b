// A seam under the calls whose failures matter but cannot be provoked on cue: the kernel
// does not return EINTR or EAGAIN from ioctl, sendmsg or recvmsg when a test asks. The sys
// layer makes these calls through seam::; a test queues errnos that the calling thread's
// next calls of that kind fail with, in order, before (and instead of) the real call.
// With nothing queued each is the libc call plus one thread-local read. No Node headers.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

namespace dmabuf::sys {

enum class Call { kIoctl, kSendmsg, kRecvmsg };
constexpr size_t kMaxInjected = 64;  // per call kind and thread

// Queues errnos (each 1..4095) that this thread's next `call`s fail with. Returns 0, or
// -EINVAL (an errno out of range) / -ENOSPC (more than kMaxInjected pending) having
// queued nothing.
int InjectErrnos(Call call, const int* errnos, size_t n);
// How many injected errnos this thread's `call`s have not yet taken.
size_t PendingInjected(Call call);
// Drops every errno this thread has queued, for every call kind.
void ClearInjected();

namespace seam {
// As libc's: the result, or -1 with errno set (to an injected errno, if one was queued).
int Ioctl(int fd, unsigned long request, void* arg);
ssize_t Sendmsg(int fd, const msghdr* msg, int flags);
ssize_t Recvmsg(int fd, msghdr* msg, int flags);
}  // namespace seam

}  // namespace dmabuf::sys
