#include "errors.h"

#include <uv.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iterator>

namespace dmabuf {
namespace {

// clang-format off
// Linux errno names; where two names share a value, the one Node's util.getSystemErrorName uses.
#define DMABUF_ERRNOS(X)                                                                         \
  X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF) X(ECHILD)    \
  X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST) X(EXDEV) X(ENODEV)       \
  X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(ETXTBSY) X(EFBIG) X(ENOSPC)     \
  X(ESPIPE) X(EROFS) X(EMLINK) X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK)   \
  X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG) X(EIDRM) X(ECHRNG) X(EL2NSYNC) X(EL3HLT) X(EL3RST)   \
  X(ELNRNG) X(EUNATCH) X(ENOCSI) X(EL2HLT) X(EBADE) X(EBADR) X(EXFULL) X(ENOANO) X(EBADRQC)      \
  X(EBADSLT) X(EBFONT) X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) X(ENONET) X(ENOPKG) X(EREMOTE)     \
  X(ENOLINK) X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP) X(EDOTDOT) X(EBADMSG)             \
  X(EOVERFLOW) X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD) X(ELIBSCN) X(ELIBMAX)      \
  X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ)            \
  X(EMSGSIZE) X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT) X(ENOTSUP)      \
  X(EPFNOSUPPORT) X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL) X(ENETDOWN) X(ENETUNREACH)      \
  X(ENETRESET) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS) X(EISCONN) X(ENOTCONN) X(ESHUTDOWN)      \
  X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED) X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY)          \
  X(EINPROGRESS) X(ESTALE) X(EUCLEAN) X(ENOTNAM) X(ENAVAIL) X(EISNAM) X(EREMOTEIO) X(EDQUOT)     \
  X(ENOMEDIUM) X(EMEDIUMTYPE) X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED) X(EKEYREVOKED)               \
  X(EKEYREJECTED) X(EOWNERDEAD) X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)
// clang-format on

const char* ErrnoName(int e) {
  switch (e) {
#define X(name) \
  case name:    \
    return #name;
    DMABUF_ERRNOS(X)
#undef X
  }
  return "UNKNOWN";
}

// libuv's words where libuv knows the errno ("resource busy or locked"), so that these
// messages read as Node's own (fs, net) do; otherwise strerror's, lower-cased as libuv
// words them ("File descriptor in bad state" → "file descriptor in bad state").
std::string Description(int e) {
  char buf[128];
  uv_strerror_r(-e, buf, sizeof buf);
  std::string s = buf;
  if (s.rfind("Unknown system error", 0) != 0) return s;
  s = std::strerror(e);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// What a bad argument was, worded as Node's ERR_INVALID_ARG_TYPE words it: "type number (5)",
// "type string ('x')", "undefined", "null", "an instance of Foo", "function bar".
std::string Received(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_number:
      return "type number (" + v.ToString().Utf8Value() + ")";
    case napi_boolean:
      return std::string("type boolean (") + (v.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    case napi_bigint:
      return "type bigint (" + v.ToString().Utf8Value() + "n)";
    case napi_string: {
      std::string s = "'" + v.As<Napi::String>().Utf8Value() + "'";
      if (s.size() > 28) s = s.substr(0, 25) + "...";
      return "type string (" + s + ")";
    }
    case napi_symbol:
      return "type symbol";
    case napi_function:
    case napi_object:
    case napi_external:
      break;
  }
  std::string name;
  try {  // a getter may throw; then the value is just "an object"
    const Napi::Object o = v.As<Napi::Object>();
    if (v.IsFunction()) {
      name = o.Get("name").ToString().Utf8Value();
      return name.empty() ? "type function" : "function " + name;
    }
    const Napi::Value ctor = o.Get("constructor");
    if (ctor.IsFunction()) name = ctor.As<Napi::Object>().Get("name").ToString().Utf8Value();
  } catch (const Napi::Error&) {
    name.clear();
  }
  return name.empty() ? "type object" : "an instance of " + name;
}

// Node's addNumericalSeparator, for integers beyond 2^32: 4294967296 -> 4_294_967_296.
std::string WithSeparators(double d) {
  const bool negative = d < 0;
  std::string digits = std::to_string(static_cast<uint64_t>(negative ? -d : d));
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += '_';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

// A number as ERR_OUT_OF_RANGE shows what it received.
std::string ReceivedNumber(Napi::Value v) {
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d == std::trunc(d) && std::fabs(d) > 4294967296.0 && std::fabs(d) < 1.8446744073709552e19)
    return WithSeparators(d);
  return v.ToString().Utf8Value();
}

}  // namespace

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  const int errnos[] = {
#define X(name) name,
      DMABUF_ERRNOS(X)
#undef X
  };
  Napi::Array table = Napi::Array::New(env, std::size(errnos));
  uint32_t i = 0;
  for (const int e : errnos) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("errno", static_cast<double>(-e));
    entry.Set("code", ErrnoName(e));
    entry.Set("description", Description(e));
    entry.Freeze();
    table.Set(i++, entry);
  }
  table.Freeze();
  exports.Set("errnos", table);
}

Napi::Error ErrnoError(Napi::Env env, int err, const SysCall& call) {
  const char* code = ErrnoName(-err);
  std::string msg = std::string(code) + ": " + Description(-err) + ", " + call.syscall;
  if (call.ioctl) msg += std::string("(") + call.ioctl + ")";
  if (call.path) msg += std::string(" '") + call.path + "'";
  if (call.detail) msg += std::string(" (") + call.detail + ")";
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("errno", static_cast<double>(err));
  error.Set("code", code);
  error.Set("syscall", call.syscall);
  if (call.ioctl) error.Set("ioctl", call.ioctl);
  if (call.path) error.Set("path", call.path);
  if (call.fd >= 0) error.Set("fd", static_cast<double>(call.fd));
  return error;
}

int64_t Check(Napi::Env env, int64_t r, const SysCall& call) {
  if (r < 0) throw ErrnoError(env, static_cast<int>(r), call);
  return r;
}

Napi::Error WithCode(Napi::Error error, const char* code) {
  error.Set("code", code);
  return error;
}

Napi::Error ArgTypeError(Napi::Value v, const char* name, const std::string& expected) {
  // Node says "property" for a dotted name ("options.size").
  const char* what = std::strchr(name, '.') ? "\" property must be " : "\" argument must be ";
  const std::string msg = std::string("The \"") + name + what + expected + ". Received " + Received(v);
  return WithCode(Napi::TypeError::New(v.Env(), msg), "ERR_INVALID_ARG_TYPE");
}

Napi::Error OutOfRangeError(Napi::Env env, const std::string& name, const std::string& range,
                            const std::string& received) {
  const std::string msg =
      "The value of \"" + name + "\" is out of range. It must be " + range + ". Received " + received;
  return WithCode(Napi::RangeError::New(env, msg), "ERR_OUT_OF_RANGE");
}

// As Node's validateInteger: not a number is ERR_INVALID_ARG_TYPE, a number that is not an
// integer in [min, max] is ERR_OUT_OF_RANGE.
int64_t ArgInt(Napi::Value v, const char* name, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw ArgTypeError(v, name, "of type number");
  const double d = v.As<Napi::Number>().DoubleValue();
  // NaN fails every comparison.
  if (d >= static_cast<double>(min) && d <= static_cast<double>(max) && d == std::trunc(d))
    return static_cast<int64_t>(d);
  const bool integer = std::isfinite(d) && d == std::trunc(d);
  const std::string range =
      integer ? ">= " + std::to_string(min) + " && <= " + std::to_string(max) : std::string("an integer");
  throw OutOfRangeError(v.Env(), name, range, ReceivedNumber(v));
}

bool ArgBool(Napi::Value v, const char* name) {
  if (!v.IsBoolean()) throw ArgTypeError(v, name, "of type boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string ArgString(Napi::Value v, const char* name) {
  if (!v.IsString()) throw ArgTypeError(v, name, "of type string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    const std::string msg = std::string("The \"") + name + "\" argument must be a string without null bytes";
    throw WithCode(Napi::TypeError::New(v.Env(), msg), "ERR_INVALID_ARG_VALUE");
  }
  return s;
}

Bytes ArgView(Napi::Value v, const char* name) {
  if (v.IsTypedArray()) {
    const Napi::TypedArray array = v.As<Napi::TypedArray>();
    void* data;  // already advanced by byteOffset
    if (napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
      throw Napi::Error::New(v.Env());
    return {static_cast<uint8_t*>(data), array.ByteLength()};
  }
  if (v.IsDataView()) {
    const Napi::DataView view = v.As<Napi::DataView>();
    return {static_cast<uint8_t*>(view.Data()), view.ByteLength()};
  }
  throw ArgTypeError(v, name, "an ArrayBufferView (a TypedArray or DataView)");
}

}  // namespace dmabuf
