#include "seam.h"

#include <sys/ioctl.h>

#include <cerrno>

namespace dmabuf::sys {
namespace {

constexpr int kCallKinds = 3;

// A ring per call kind. thread_local: a worker's injections never reach another thread's
// calls, and no lock is needed. Plain data, so nothing runs at thread exit.
struct Queue {
  int errnos[kMaxInjected];
  size_t head;
  size_t count;
};
thread_local Queue queues[kCallKinds];

Queue& Of(Call call) { return queues[static_cast<int>(call)]; }

// The injected errno this call fails with, or 0 to make the real call.
int Take(Call call) {
  Queue& q = Of(call);
  if (q.count == 0) return 0;
  const int e = q.errnos[q.head];
  q.head = (q.head + 1) % kMaxInjected;
  q.count--;
  return e;
}

}  // namespace

int InjectErrnos(Call call, const int* errnos, size_t n) {
  Queue& q = Of(call);
  for (size_t i = 0; i < n; i++)
    if (errnos[i] < 1 || errnos[i] > 4095) return -EINVAL;
  if (n > kMaxInjected - q.count) return -ENOSPC;
  for (size_t i = 0; i < n; i++) q.errnos[(q.head + q.count++) % kMaxInjected] = errnos[i];
  return 0;
}

size_t PendingInjected(Call call) { return Of(call).count; }

void ClearInjected() {
  for (Queue& q : queues) q.head = q.count = 0;
}

namespace seam {

int Ioctl(int fd, unsigned long request, void* arg) {
  if (const int e = Take(Call::kIoctl)) {
    errno = e;
    return -1;
  }
  return ioctl(fd, request, arg);
}

ssize_t Sendmsg(int fd, const msghdr* msg, int flags) {
  if (const int e = Take(Call::kSendmsg)) {
    errno = e;
    return -1;
  }
  return sendmsg(fd, msg, flags);
}

ssize_t Recvmsg(int fd, msghdr* msg, int flags) {
  if (const int e = Take(Call::kRecvmsg)) {
    errno = e;
    return -1;
  }
  return recvmsg(fd, msg, flags);
}

}  // namespace seam
}  // namespace dmabuf::sys
