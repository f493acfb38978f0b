// Plain syscalls on memfds and other fds. Each returns a non-negative result or -errno.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dmabuf::sys {

struct Stat {
  uint64_t size, ino, mode, dev, rdev, nlink;
};

int MemfdCreate(const char* name, unsigned flags);
int AddSeals(int fd, unsigned seals);
int GetSeals(int fd);
int Ftruncate(int fd, int64_t size);
int Fallocate(int fd, int mode, int64_t offset, int64_t len);
int Open(const char* path, int flags);  // always adds O_CLOEXEC
int Close(int fd);
int Dup(int fd);
int Dup2(int oldfd, int newfd);
int64_t FdSize(int fd);
int Fstat(int fd, Stat* out);
int FstatfsType(int fd, uint64_t* type);
int GetFlags(int fd);
int Poll(int fd, short events, int timeout_ms);  // returns revents
int Mmap(int fd, size_t length, int64_t offset, bool writable, void** addr);
int Munmap(void* addr, size_t length);
// Replaces [addr, addr + length) with fresh anonymous private memory (MAP_FIXED): whatever was
// mapped there is released, and the range stays reserved, readable and writable.
int MapAnonymousOver(void* addr, size_t length);
long PageSize();

// What fromFd() needs to know about an fd, in one call. Fields a step could not get keep
// their defaults. Seals are asked only of regular files on shmem or hugetlbfs, the size only of
// memfds (/memfd: links among those) and dma-bufs, exp_name (fdinfo) only of a /dmabuf: link
// on the dma-buf filesystem.
struct Probe {
  int flags = 0;           // fcntl(F_GETFL), or -errno (-EBADF: not open; nothing else is filled)
  std::string link;        // readlink /proc/self/fd/<fd>, "" if that failed
  uint64_t fs_type = 0;    // fstatfs f_type, 0 if that failed
  Stat st{};               // fstat, zeroes if that failed
  int seals = -EINVAL;     // fcntl(F_GET_SEALS), or -errno
  int64_t size = -EINVAL;  // FdSize, or -errno
  bool has_exp_name = false;
  std::string exp_name;  // the fdinfo line `exp_name:\t<name>`
};
// identity_only: F_GETFL and fstat alone (which file, its size: st_size of a dma-buf is its size).
void ProbeFd(int fd, Probe* out, bool identity_only = false);

}  // namespace dmabuf::sys
