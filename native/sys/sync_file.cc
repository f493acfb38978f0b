#include "sync_file.h"

#include <cstring>

#include "dmabuf.h"

namespace dmabuf::sys {

int SyncFileMerge(int fd, int fd2, const char* name) {
  uapi::sync_merge_data data = {};
  std::strncpy(data.name, name, sizeof data.name - 1);
  data.fd2 = fd2;
  const int r = Ioctl(fd, uapi::SYNC_IOC_MERGE, &data);
  return r < 0 ? r : data.fence;
}

int SyncFileInfo(int fd, uapi::sync_file_info* info, std::vector<uapi::sync_fence_info>* fences) {
  *info = {};
  int r = Ioctl(fd, uapi::SYNC_IOC_FILE_INFO, info);
  if (r < 0 || info->num_fences == 0) return r;
  fences->assign(info->num_fences, uapi::sync_fence_info{});
  const uint32_t n = info->num_fences;
  *info = {};
  info->num_fences = n;
  info->sync_fence_info = reinterpret_cast<uintptr_t>(fences->data());
  return Ioctl(fd, uapi::SYNC_IOC_FILE_INFO, info);
}

}  // namespace dmabuf::sys
