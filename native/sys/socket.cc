#include "socket.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "seam.h"

namespace dmabuf::sys {
namespace {

constexpr int kFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;

int NewSocket() {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | kFlags, 0);
  return fd < 0 ? -errno : fd;
}

void CloseKeepErrno(int fd) {
  const int e = errno;
  close(fd);
  errno = e;
}

// A filesystem address; "" and paths longer than sun_path are refused.
int Address(const char* path, sockaddr_un* addr, socklen_t* len) {
  const size_t n = std::strlen(path);
  if (n == 0) return -EINVAL;
  if (n >= sizeof addr->sun_path) return -ENAMETOOLONG;
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path, n);
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
  return 0;
}

int ConnectRetry(int fd, const sockaddr_un& addr, socklen_t len) {
  for (;;) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

// A socket file whose listener is gone: connecting to it is refused.
bool IsStaleSocket(const char* path, const sockaddr_un& addr, socklen_t len) {
  struct stat st;
  if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) return false;
  const int probe = NewSocket();
  if (probe < 0) return false;
  const int r = ConnectRetry(probe, addr, len);
  close(probe);
  return r == -ECONNREFUSED;
}

}  // namespace

int SocketPair(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | kFlags, 0, fds) < 0 ? -errno : 0; }

int Listen(const char* path, int backlog, unsigned mode) {
  sockaddr_un addr;
  socklen_t len;
  if (const int r = Address(path, &addr, &len); r < 0) return r;
  const int fd = NewSocket();
  if (fd < 0) return fd;
  // bind gives the file the socket inode's mode less the umask (0755 under umask 022 by
  // default: anyone could connect). Set the inode's mode first, so the file is never more
  // open than `mode`, not even for an instant.
  if (fchmod(fd, mode) < 0) {
    CloseKeepErrno(fd);
    return -errno;
  }
  int r = bind(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  if (r < 0 && errno == EADDRINUSE && IsStaleSocket(path, addr, len)) {
    unlink(path);
    r = bind(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  }
  if (r < 0) {
    CloseKeepErrno(fd);
    return -errno;
  }
  // bits the umask took from `mode` (a mode wider than 0600 asked for) are added now, still
  // before listen(2), and never through a symlink put in place of the file.
  struct stat st;
  int e = 0;
  if (lstat(path, &st) < 0) {
    e = errno;
  } else if (!S_ISSOCK(st.st_mode)) {
    e = EEXIST;  // not the file bind made: someone put another in its place; leave it
  } else if ((st.st_mode & 07777) != mode && fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0) {
    e = errno;
    unlink(path);
  }
  if (e != 0) {
    close(fd);
    return -e;
  }
  if (listen(fd, backlog) < 0) {
    const int e = errno;
    close(fd);
    unlink(path);
    return -e;
  }
  return fd;
}

int Accept(int fd) {
  for (;;) {
    const int r = accept4(fd, nullptr, nullptr, kFlags);
    if (r >= 0) return r;
    if (errno == EWOULDBLOCK) return -EAGAIN;
    if (errno != EINTR) return -errno;
  }
}

int Connect(const char* path) {
  sockaddr_un addr;
  socklen_t len;
  if (const int r = Address(path, &addr, &len); r < 0) return r;
  const int fd = NewSocket();
  if (fd < 0) return fd;
  const int r = ConnectRetry(fd, addr, len);
  // AF_UNIX connects at once or not at all; EINPROGRESS is not expected, but if a kernel
  // gave it, the socket is usable and a failure would show on its first send or receive.
  if (r == 0 || r == -EINPROGRESS) return fd;
  close(fd);
  return r == -EWOULDBLOCK ? -EAGAIN : r;
}

int AdoptSocket(int fd) {
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return -errno;
  len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return -errno;
  if (domain != AF_UNIX || type != SOCK_SEQPACKET) return -EPROTOTYPE;
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  const int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

// One data buffer and room for a full SCM_RIGHTS control message.
struct Message {
  iovec iov;
  msghdr msg = {};
  union {
    cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  } control;
  Message(void* data, size_t length) : iov{data, length} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
};

// Restarts on EINTR (a signal arrived before anything was sent or received). EAGAIN is
// not restarted: every socket here is non-blocking, so it means "would block" (a full or
// empty socket) and goes back to the caller as -EAGAIN, to wait for readiness.
template <typename Fn>
ssize_t Retry(Fn call) {
  for (;;) {
    const ssize_t r = call();
    if (r >= 0) return r;
    if (errno == EWOULDBLOCK) return -EAGAIN;
    if (errno != EINTR) return -errno;
  }
}

namespace {

// After recvmsg returned 0 bytes and no fds: was that the end of the stream, or an empty
// record from a live peer? SEQPACKET answers 0 for both. It is the end only when the peer
// can send no more (RCV_SHUTDOWN, which poll reports as POLLRDHUP) and no bytes are left
// queued (SIOCINQ sums the queued records' lengths). Once the peer has shut down its queue
// is final, so the check cannot race with new records; any empty records it left carry
// nothing a reader could use, and the kernel closes their fds with the socket.
// Returns 1 (end of stream), 0 (an empty record), or -errno.
int AtEnd(int fd) {
  pollfd p = {fd, POLLRDHUP, 0};
  int r;
  do r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) return -errno;
  if (!(p.revents & (POLLRDHUP | POLLHUP))) return 0;
  int queued = 0;
  if (ioctl(fd, SIOCINQ, &queued) < 0) return -errno;
  return queued == 0 ? 1 : 0;
}

}  // namespace

int64_t SendFds(int fd, const void* data, size_t length, const int* fds, size_t nfds) {
  if (nfds > kMaxFdsPerMessage) return -EINVAL;
  Message m(const_cast<void*>(data), length);
  if (nfds > 0) {
    std::memset(&m.control, 0, sizeof m.control);
    m.msg.msg_control = m.control.buf;
    m.msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return Retry([&] { return seam::Sendmsg(fd, &m.msg, MSG_NOSIGNAL); });
}

int RecvFds(int fd, void* data, size_t length, size_t max_fds, Received* out) {
  if (max_fds > kMaxFdsPerMessage) max_fds = kMaxFdsPerMessage;
  Message m(data, length);
  msghdr& msg = m.msg;
  if (max_fds > 0) {
    // CMSG_LEN, not CMSG_SPACE: the kernel fills (controllen - header) / sizeof(int) fds,
    // and CMSG_SPACE's padding would make room for one more than asked.
    msg.msg_control = m.control.buf;
    msg.msg_controllen = CMSG_LEN(sizeof(int) * max_fds);
  }
  const ssize_t r = Retry([&] { return seam::Recvmsg(fd, &msg, MSG_CMSG_CLOEXEC); });
  if (r < 0) return static_cast<int>(r);
  out->bytes = r;
  out->fds.clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* p = CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      int one;
      std::memcpy(&one, p + i * sizeof(int), sizeof one);
      out->fds.push_back(one);
    }
  }
  out->truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  if (msg.msg_flags & MSG_CTRUNC) {
    // Some fds were dropped by the kernel; the ones that arrived belong to a message that
    // can no longer be made whole. Close them rather than hand out half a message.
    for (const int one : out->fds) close(one);
    out->closed = out->fds.size();
    out->fds.clear();
    return -EMSGSIZE;
  }
  out->eof = false;
  if (r == 0 && out->fds.empty() && !out->truncated) {
    const int end = AtEnd(fd);
    if (end < 0) return end;
    out->eof = end == 1;
  }
  return 0;
}

int PeerCred(int fd, PeerCredentials* out) {
  ucred cred = {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  *out = {cred.pid, cred.uid, cred.gid};
  return 0;
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  return err;
}

int Shutdown(int fd, int how) { return shutdown(fd, how) < 0 ? -errno : 0; }

}  // namespace dmabuf::sys
