// sync_file ioctls (include/uapi/linux/sync_file.h). Each returns a result or -errno.
#pragma once

#include <linux/ioctl.h>

#include <cstdint>
#include <vector>

namespace dmabuf::uapi {

struct sync_merge_data {
  char name[32];
  int32_t fd2;
  int32_t fence;  // out
  uint32_t flags;
  uint32_t pad;
};

struct sync_fence_info {
  char obj_name[32];
  char driver_name[32];
  int32_t status;  // 1 signalled, 0 active, < 0 error
  uint32_t flags;
  uint64_t timestamp_ns;
};

struct sync_file_info {
  char name[32];
  int32_t status;
  uint32_t flags;
  uint32_t num_fences;
  uint32_t pad;
  uint64_t sync_fence_info;  // pointer to num_fences sync_fence_info
};

constexpr unsigned long SYNC_IOC_MERGE = _IOWR('>', 3, sync_merge_data);
constexpr unsigned long SYNC_IOC_FILE_INFO = _IOWR('>', 4, sync_file_info);

static_assert(sizeof(sync_merge_data) == 48 && sizeof(sync_fence_info) == 80 && sizeof(sync_file_info) == 56);

}  // namespace dmabuf::uapi

namespace dmabuf::sys {

// SYNC_IOC_MERGE: a new sync_file signalled when both are; returns its fd.
int SyncFileMerge(int fd, int fd2, const char* name);
// SYNC_IOC_FILE_INFO, twice: once for the count, once for the fences.
int SyncFileInfo(int fd, uapi::sync_file_info* info, std::vector<uapi::sync_fence_info>* fences);

}  // namespace dmabuf::sys
