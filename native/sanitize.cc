// Only in the sanitizer build (binding.gyp -Ddmabuf_sanitize=1, npm run test:asan).
// GCC's UBSan runtime (libubsan) runs as a plugin of ASan's here and never applies
// UBSAN_OPTIONS' log_path, so its reports would go to stderr, where a test that captures a
// child's output hides them. Point its report path at DMABUF_UBSAN_LOG when the addon loads.
#include <dlfcn.h>

#include <cstdlib>

namespace {

struct UbsanReportPath {
  UbsanReportPath() {
    const char* path = std::getenv("DMABUF_UBSAN_LOG");
    void* ubsan = path ? dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD) : nullptr;
    if (ubsan == nullptr) return;
    // Through libubsan's handle: the plain symbol would resolve to libasan's copy.
    auto set = reinterpret_cast<void (*)(const char*)>(dlsym(ubsan, "__sanitizer_set_report_path"));
    if (set) set(path);
    dlclose(ubsan);
  }
} report_path;

}  // namespace
