/* Shared by the C baselines: a monotonic clock, the three kinds of buffer the JS side
 * uses (memfd, udmabuf, dma-heap) made with the same syscalls, and JSON output.
 * Every program prints one JSON object on stdout; errors go to stderr with exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* uapi, as in include/uapi/linux/{dma-buf,udmabuf,dma-heap}.h (x86-64 values). */
struct dma_buf_sync {
  uint64_t flags;
};
#define DMA_BUF_IOCTL_SYNC 0x40086200UL
#define DMA_BUF_SYNC_RW 3
#define DMA_BUF_SYNC_START 0
#define DMA_BUF_SYNC_END 4
struct udmabuf_create {
  uint32_t memfd, flags;
  uint64_t offset, size;
};
#define UDMABUF_CREATE 0x40187542UL
#define UDMABUF_FLAGS_CLOEXEC 1
struct dma_heap_allocation_data {
  uint64_t len;
  uint32_t fd, fd_flags;
  uint64_t heap_flags;
};
#define DMA_HEAP_IOCTL_ALLOC 0xC0184800UL

static inline double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

__attribute__((unused)) static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

enum kind { K_MEMFD, K_UDMABUF, K_HEAP };

__attribute__((unused)) static enum kind parse_kind(const char *s) {
  if (!strcmp(s, "memfd")) return K_MEMFD;
  if (!strcmp(s, "udmabuf")) return K_UDMABUF;
  if (!strcmp(s, "dma-heap")) return K_HEAP;
  fprintf(stderr, "unknown buffer kind '%s' (memfd, udmabuf, dma-heap)\n", s);
  exit(2);
}

/* The device a kind allocates from (/dev/udmabuf, /dev/dma_heap/system), or -1 for memfd. */
__attribute__((unused)) static int open_dev(enum kind k) {
  int fd = -1;
  if (k == K_UDMABUF) fd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
  if (k == K_HEAP) fd = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
  if (k != K_MEMFD && fd < 0) die("open device");
  return fd;
}

/* A sealed memfd, as the memfd exporter and udmabuf want it. */
__attribute__((unused)) static int sealed_memfd(size_t size) {
  int fd = memfd_create("dmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) die("memfd_create");
  if (ftruncate(fd, (off_t)size) < 0) die("ftruncate");
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) die("F_ADD_SEALS");
  return fd;
}

/* A new buffer of `size` bytes; its fd (a dma-buf for udmabuf and dma-heap). */
__attribute__((unused)) static int make_buf(enum kind k, int dev, size_t size) {
  if (k == K_MEMFD) return sealed_memfd(size);
  if (k == K_UDMABUF) {
    int memfd = sealed_memfd(size);
    struct udmabuf_create c = {(uint32_t)memfd, UDMABUF_FLAGS_CLOEXEC, 0, size};
    int fd = ioctl(dev, UDMABUF_CREATE, &c);
    if (fd < 0) die("UDMABUF_CREATE");
    close(memfd);
    return fd;
  }
  struct dma_heap_allocation_data a = {size, 0, O_RDWR | O_CLOEXEC, 0};
  if (ioctl(dev, DMA_HEAP_IOCTL_ALLOC, &a) < 0) die("DMA_HEAP_IOCTL_ALLOC");
  return (int)a.fd;
}

__attribute__((unused)) static void *map_buf(int fd, size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  return p;
}

__attribute__((unused)) static void print_samples(const char *name, const double *v, int n, int last) {
  printf("\"%s\":[", name);
  for (int i = 0; i < n; i++) printf("%s%.1f", i ? "," : "", v[i]);
  printf("]%s", last ? "" : ",");
}

__attribute__((unused)) static volatile uint8_t sink;
