// AF_UNIX SOCK_SEQPACKET sockets that carry fds (SCM_RIGHTS). Plain syscalls, no Node
// headers. Every socket made here is SOCK_NONBLOCK | SOCK_CLOEXEC; every function returns
// a non-negative result or -errno (EINTR is restarted, EAGAIN is returned as -EAGAIN).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dmabuf::sys {

// SCM_MAX_FD: the most fds the kernel accepts in one SCM_RIGHTS message.
constexpr size_t kMaxFdsPerMessage = 253;

struct PeerCredentials {
  int pid;
  unsigned uid, gid;
};

struct Received {
  int64_t bytes = 0;
  std::vector<int> fds;    // O_CLOEXEC (MSG_CMSG_CLOEXEC); the caller owns them
  bool truncated = false;  // MSG_TRUNC: the payload was longer than the buffer
  size_t closed = 0;       // on -EMSGSIZE (MSG_CTRUNC): how many fds arrived and were closed
  bool eof = false;        // end of stream: the peer shut down and nothing is left to read
};

// socketpair(AF_UNIX, SOCK_SEQPACKET): fds[0] and fds[1].
int SocketPair(int fds[2]);
// socket + bind + chmod(mode) + listen. When bind finds a socket file nobody listens on
// (a probe connect is refused), it unlinks that file and binds again; any other file is
// left alone. The file takes `mode` before listen(2), so no connection precedes it.
int Listen(const char* path, int backlog, unsigned mode);
// accept4; -EAGAIN when no connection is pending.
int Accept(int fd);
// socket + connect; -EAGAIN when the listener's backlog is full (the socket is closed).
int Connect(const char* path);
// Checks that fd is an AF_UNIX SOCK_SEQPACKET socket (-ENOTSOCK, -EPROTOTYPE), then sets
// O_NONBLOCK and FD_CLOEXEC on it.
int AdoptSocket(int fd);
// sendmsg(MSG_NOSIGNAL) of one message: `length` bytes and up to kMaxFdsPerMessage fds in
// one SCM_RIGHTS control message. Returns the bytes sent.
int64_t SendFds(int fd, const void* data, size_t length, const int* fds, size_t nfds);
// recvmsg(MSG_CMSG_CLOEXEC) of one message into data[0, length), with room for `max_fds`
// fds. On MSG_CTRUNC every fd that did arrive is closed and -EMSGSIZE is returned. A
// record of 0 bytes and no fds sets `eof` only if it was the end of the stream, not an
// empty record from a peer that is still there (SEQPACKET answers 0 for both).
int RecvFds(int fd, void* data, size_t length, size_t max_fds, Received* out);
// getsockopt(SO_PEERCRED).
int PeerCred(int fd, PeerCredentials* out);
// getsockopt(SO_ERROR): the pending socket error as a positive errno (0 if none); clears it.
int SocketError(int fd);
int Shutdown(int fd, int how);

}  // namespace dmabuf::sys
