// Our own copy of the dma-buf, udmabuf and DMA heap uAPI (include/uapi/linux/
// dma-buf.h, udmabuf.h, dma-heap.h), so the build does not depend on how new the
// installed kernel headers are.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // Linux 5.1; older libcs lack it
#endif
static_assert(F_SEAL_FUTURE_WRITE == 0x0010);

namespace dmabuf::uapi {

struct dma_buf_sync {
  uint64_t flags;
};

struct dma_buf_export_sync_file {
  uint32_t flags;
  int32_t fd;  // out
};

struct dma_buf_import_sync_file {
  uint32_t flags;
  int32_t fd;  // in
};

struct udmabuf_create {
  uint32_t memfd;
  uint32_t flags;
  uint64_t offset;
  uint64_t size;
};

struct udmabuf_create_item {
  uint32_t memfd;
  uint32_t pad;
  uint64_t offset;
  uint64_t size;
};

// Followed in memory by `count` udmabuf_create_item.
struct udmabuf_create_list {
  uint32_t flags;
  uint32_t count;
};

struct dma_heap_allocation_data {
  uint64_t len;
  uint32_t fd;  // out
  uint32_t fd_flags;
  uint64_t heap_flags;
};

static_assert(sizeof(dma_buf_sync) == 8);
static_assert(sizeof(dma_buf_export_sync_file) == 8);
static_assert(sizeof(dma_buf_import_sync_file) == 8);
static_assert(sizeof(udmabuf_create) == 24 && offsetof(udmabuf_create, offset) == 8);
static_assert(sizeof(udmabuf_create_item) == 24 && offsetof(udmabuf_create_item, size) == 16);
static_assert(sizeof(udmabuf_create_list) == 8);
static_assert(sizeof(dma_heap_allocation_data) == 24 && offsetof(dma_heap_allocation_data, heap_flags) == 16);

constexpr unsigned long DMA_BUF_IOCTL_SYNC = _IOW('b', 0, dma_buf_sync);
constexpr unsigned long DMA_BUF_SET_NAME_B = _IOW('b', 1, uint64_t);
constexpr unsigned long DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR('b', 2, dma_buf_export_sync_file);
constexpr unsigned long DMA_BUF_IOCTL_IMPORT_SYNC_FILE = _IOW('b', 3, dma_buf_import_sync_file);
constexpr unsigned long UDMABUF_CREATE = _IOW('u', 0x42, udmabuf_create);
constexpr unsigned long UDMABUF_CREATE_LIST = _IOW('u', 0x43, udmabuf_create_list);
constexpr unsigned long DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0x0, dma_heap_allocation_data);

// The values in KERNEL-FACTS.md hold wherever the asm-generic encoding is used
// (x86, arm, arm64, riscv); other architectures get their own from <sys/ioctl.h>.
#if _IOC_SIZEBITS == 14 && _IOC_WRITE == 1U
static_assert(DMA_BUF_IOCTL_SYNC == 0x40086200);
static_assert(DMA_BUF_SET_NAME_B == 0x40086201);
static_assert(DMA_BUF_IOCTL_EXPORT_SYNC_FILE == 0xC0086202);
static_assert(DMA_BUF_IOCTL_IMPORT_SYNC_FILE == 0x40086203);
static_assert(UDMABUF_CREATE == 0x40187542);
static_assert(UDMABUF_CREATE_LIST == 0x40087543);
static_assert(DMA_HEAP_IOCTL_ALLOC == 0xC0184800);
#endif

// DMA_BUF_SYNC_* and DMA_BUF_NAME_LEN: the addon passes them through untouched, so
// they are written once, in lib/platform/uapi.ts.
constexpr uint32_t DMA_BUF_MAGIC = 0x444d4142;  // "DMAB", statfs f_type
constexpr uint32_t UDMABUF_FLAGS_CLOEXEC = 0x01;

}  // namespace dmabuf::uapi
