// The one place that turns errnos and bad arguments into JS errors.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace dmabuf {

// What failed, for the error's message and its syscall/ioctl/fd/path properties.
struct SysCall {
  const char* syscall;
  const char* ioctl = nullptr;
  int fd = -1;
  const char* path = nullptr;
  const char* detail = nullptr;  // appended to the message in parentheses
};

// exports.errnos: every errno name this file knows, as frozen { errno (negative), code,
// description } entries, so that JS makes its own errno errors from the same table.
void RegisterErrors(Napi::Env env, Napi::Object exports);

// An Error shaped like Node's SystemError: code 'EINVAL', errno -22, syscall, ….
// `err` is a negative errno.
Napi::Error ErrnoError(Napi::Env env, int err, const SysCall& call);

// Throws ErrnoError when r < 0; otherwise returns r.
int64_t Check(Napi::Env env, int64_t r, const SysCall& call);

// Sets `code` on an error and returns it.
Napi::Error WithCode(Napi::Error error, const char* code);

// Argument readers. Anything but the stated type (including undefined for a missing
// argument) throws a TypeError with code ERR_INVALID_ARG_TYPE; a number outside the
// stated range, or not an integer, a RangeError with code ERR_OUT_OF_RANGE.
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

int64_t ArgInt(Napi::Value v, const char* name, int64_t min, int64_t max);
inline int ArgFd(Napi::Value v, const char* name = "fd") {
  return static_cast<int>(ArgInt(v, name, 0, INT32_MAX));
}
// A byte count or offset: 0 ≤ v ≤ 2^53-1.
inline uint64_t ArgSize(Napi::Value v, const char* name) {
  return static_cast<uint64_t>(ArgInt(v, name, 0, kMaxSafeInteger));
}
// 32 flag bits, given as either an int32 (the result of JS bit operators) or a uint32.
inline uint32_t ArgFlags(Napi::Value v, const char* name = "flags") {
  return static_cast<uint32_t>(ArgInt(v, name, INT32_MIN, UINT32_MAX));
}
bool ArgBool(Napi::Value v, const char* name);
// A string without NUL bytes (those would silently truncate it).
std::string ArgString(Napi::Value v, const char* name);

struct Bytes {
  uint8_t* data;
  size_t length;
};
// The bytes a TypedArray or DataView covers.
Bytes ArgView(Napi::Value v, const char* name);

// TypeError with code ERR_INVALID_ARG_TYPE: `The "name" argument must be <expected>. Received …`.
Napi::Error ArgTypeError(Napi::Value v, const char* name, const std::string& expected);

}  // namespace dmabuf
