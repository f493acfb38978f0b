// Plain syscalls on memfds and other fds. Each returns a non-negative result or -errno.
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace dmabuf::sys
