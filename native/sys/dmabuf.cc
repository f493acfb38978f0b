#include "dmabuf.h"

#include <cerrno>
#include <cstring>

#include "seam.h"

namespace dmabuf::sys {

int Ioctl(int fd, unsigned long request, void* arg) {
  int r = seam::Ioctl(fd, request, arg);
  return r < 0 ? -errno : r;
}

int UdmabufCreate(int dev_fd, uint32_t memfd, uint64_t offset, uint64_t size, uint32_t flags) {
  uapi::udmabuf_create create = {memfd, flags, offset, size};
  return Ioctl(dev_fd, uapi::UDMABUF_CREATE, &create);  // returns the new fd
}

int UdmabufCreateList(int dev_fd, const std::vector<uapi::udmabuf_create_item>& items, uint32_t flags) {
  // The 8-byte header followed by the items; uint64_t storage keeps it 8-aligned.
  const uapi::udmabuf_create_list head = {flags, static_cast<uint32_t>(items.size())};
  std::vector<uint64_t> buf(1 + items.size() * sizeof(uapi::udmabuf_create_item) / sizeof(uint64_t));
  std::memcpy(buf.data(), &head, sizeof head);
  if (!items.empty()) std::memcpy(buf.data() + 1, items.data(), items.size() * sizeof items[0]);
  return Ioctl(dev_fd, uapi::UDMABUF_CREATE_LIST, buf.data());  // returns the new fd
}

int DmaHeapAlloc(int heap_fd, uint64_t len, uint32_t fd_flags, uint64_t heap_flags) {
  uapi::dma_heap_allocation_data data = {len, 0, fd_flags, heap_flags};
  int r = Ioctl(heap_fd, uapi::DMA_HEAP_IOCTL_ALLOC, &data);
  return r < 0 ? r : static_cast<int>(data.fd);
}

int DmaBufSync(int fd, uint64_t flags) {
  uapi::dma_buf_sync sync = {flags};
  int r;
  // drivers/dma-buf/dma-buf.c, "DOC: cpu access": "Note that DMA_BUF_IOCTL_SYNC can fail
  // with -EAGAIN or -EINTR, in which case it must be restarted." EAGAIN here is not "would
  // block" (SYNC never looks at O_NONBLOCK) but a driver asking to be called again, as
  // drmIoctl() restarts it. Only this ioctl is restarted; any other errno is the answer.
  do {
    r = Ioctl(fd, uapi::DMA_BUF_IOCTL_SYNC, &sync);
  } while (r == -EINTR || r == -EAGAIN);
  return r;
}

int DmaBufSetName(int fd, const char* name) {
  // The argument is the string pointer itself.
  return Ioctl(fd, uapi::DMA_BUF_SET_NAME_B, const_cast<char*>(name));
}

int DmaBufExportSyncFile(int fd, uint32_t flags) {
  uapi::dma_buf_export_sync_file req = {flags, -1};
  int r = Ioctl(fd, uapi::DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &req);
  return r < 0 ? r : req.fd;
}

int DmaBufImportSyncFile(int fd, uint32_t flags, int sync_file_fd) {
  uapi::dma_buf_import_sync_file req = {flags, sync_file_fd};
  return Ioctl(fd, uapi::DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &req);
}

}  // namespace dmabuf::sys
