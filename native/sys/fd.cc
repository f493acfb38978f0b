#include "fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace dmabuf::sys {
namespace {

int Result(long r) { return r < 0 ? -errno : static_cast<int>(r); }

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

int MemfdCreate(const char* name, unsigned flags) { return Result(memfd_create(name, flags)); }

int AddSeals(int fd, unsigned seals) { return Result(fcntl(fd, F_ADD_SEALS, seals)); }

int GetSeals(int fd) { return Result(fcntl(fd, F_GET_SEALS)); }

int Ftruncate(int fd, int64_t size) { return Result(ftruncate(fd, size)); }

int Fallocate(int fd, int mode, int64_t offset, int64_t len) {
  return Result(fallocate(fd, mode, offset, len));
}

int Open(const char* path, int flags) { return Result(open(path, flags | O_CLOEXEC, 0666)); }

int Close(int fd) {
  // On Linux the fd is released even when close() reports EINTR; retrying could
  // close an fd another thread just opened.
  if (close(fd) == 0 || errno == EINTR) return 0;
  return -errno;
}

int Dup(int fd) { return Result(fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

int Dup2(int oldfd, int newfd) {
  if (oldfd == newfd) return Result(fcntl(oldfd, F_GETFD));  // dup3 rejects equal fds
  return Result(dup3(oldfd, newfd, O_CLOEXEC));
}

int64_t FdSize(int fd) {
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0) {
    // Unseekable fds (pipes; dma-bufs before Linux 3.12): report fstat's st_size.
    if (errno != ESPIPE && errno != EINVAL) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    return st.st_size;
  }
  if (lseek(fd, 0, SEEK_SET) < 0) return -errno;
  return end;
}

int Fstat(int fd, Stat* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  *out = {static_cast<uint64_t>(st.st_size), st.st_ino, st.st_mode, st.st_dev, st.st_rdev, st.st_nlink};
  return 0;
}

int FstatfsType(int fd, uint64_t* type) {
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) return -errno;
  *type = static_cast<unsigned long>(sf.f_type);
  return 0;
}

int GetFlags(int fd) { return Result(fcntl(fd, F_GETFL)); }

int Poll(int fd, short events, int timeout_ms) {
  pollfd p = {fd, events, 0};
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r >= 0) return r == 0 ? 0 : p.revents;
    if (errno != EINTR) return -errno;
    if (timeout_ms > 0) {
      const int64_t left = deadline - NowMs();
      timeout_ms = left > 0 ? static_cast<int>(left) : 0;
    }
  }
}

int Mmap(int fd, size_t length, int64_t offset, bool writable, void** addr) {
  void* p = mmap(nullptr, length, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, offset);
  if (p == MAP_FAILED) return -errno;
  *addr = p;
  return 0;
}

int Munmap(void* addr, size_t length) { return Result(munmap(addr, length)); }

int MapAnonymousOver(void* addr, size_t length) {
  void* p = mmap(addr, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? -errno : 0;
}

long PageSize() { return sysconf(_SC_PAGESIZE); }

namespace {

// The value of `key:` in /proc/self/fdinfo/<fd>, as lib/platform/fdinfo.ts reads it: the
// one tab after the colon dropped, otherwise trimmed.
bool FdInfoValue(int fd, const char* key, std::string* out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  const int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return false;
  std::string text;
  char chunk[1024];
  for (;;) {
    const ssize_t n = read(f, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  close(f);
  const size_t klen = strlen(key);
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (end - at > klen && text.compare(at, klen, key) == 0 && text[at + klen] == ':') {
      std::string v = text.substr(at + klen + 1, end - at - klen - 1);
      if (!v.empty() && v[0] == '\t') {
        v.erase(0, 1);
      } else {
        const size_t b = v.find_first_not_of(" \t\r\f\v");
        const size_t e = v.find_last_not_of(" \t\r\f\v");
        v = b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
      }
      *out = v;
      return true;
    }
    at = end + 1;
  }
  return false;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

void ProbeFd(int fd, Probe* out, bool identity_only) {
  out->flags = GetFlags(fd);
  if (out->flags < 0) return;
  if (identity_only) {
    if (Fstat(fd, &out->st) < 0) out->st = {};
    out->size = static_cast<int64_t>(out->st.size);
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  char link[PATH_MAX];
  const ssize_t n = readlink(path, link, sizeof link);
  if (n > 0) out->link.assign(link, static_cast<size_t>(n));
  if (FstatfsType(fd, &out->fs_type) < 0) out->fs_type = 0;
  if (Fstat(fd, &out->st) < 0) out->st = {};
  // statfs magics: the dma-buf filesystem, shmem (memfds, tmpfs) and hugetlbfs.
  const bool dmabuf = StartsWith(out->link, "/dmabuf:") && out->fs_type == 0x444d4142;
  const bool shmem = (out->fs_type == 0x01021994 || out->fs_type == 0x958458f6) && S_ISREG(out->st.mode);
  if (shmem) out->seals = GetSeals(fd);
  // FdSize moves the file position back to 0: only for a dma-buf or a memfd (as fromFd did
  // before), never for a tmpfs file someone reads.
  if (dmabuf || (shmem && StartsWith(out->link, "/memfd:"))) out->size = FdSize(fd);
  if (dmabuf) out->has_exp_name = FdInfoValue(fd, "exp_name", &out->exp_name);
}

}  // namespace dmabuf::sys
