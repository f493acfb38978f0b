// The udmabuf, DMA heap and dma-buf ioctls. Each returns a non-negative result or -errno.
#pragma once

#include <cstdint>
#include <vector>

#include "uapi.h"

namespace dmabuf::sys {

// Any ioctl; returns its non-negative result.
int Ioctl(int fd, unsigned long request, void* arg);

int UdmabufCreate(int dev_fd, uint32_t memfd, uint64_t offset, uint64_t size, uint32_t flags);
int UdmabufCreateList(int dev_fd, const std::vector<uapi::udmabuf_create_item>& items, uint32_t flags);
int DmaHeapAlloc(int heap_fd, uint64_t len, uint32_t fd_flags, uint64_t heap_flags);
int DmaBufSync(int fd, uint64_t flags);
int DmaBufSetName(int fd, const char* name);
int DmaBufExportSyncFile(int fd, uint32_t flags);
int DmaBufImportSyncFile(int fd, uint32_t flags, int sync_file_fd);

}  // namespace dmabuf::sys
