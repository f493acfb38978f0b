// Glue for AF_UNIX SOCK_SEQPACKET sockets that carry fds (SCM_RIGHTS). Each export reads
// all its arguments first, then makes one sys call. Expected conditions become values
// (EAGAIN → null); every other failure throws a SystemError-shaped error (errors.h).
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "env.h"
#include "errors.h"
#include "register.h"
#include "sys/socket.h"

namespace dmabuf {
namespace {

using Info = const Napi::CallbackInfo&;

Napi::Error OutOfRange(Napi::Env env, const std::string& msg) {
  return WithCode(Napi::RangeError::New(env, msg), "ERR_OUT_OF_RANGE");
}

std::vector<int> ArgFds(Napi::Value v) {
  if (!v.IsArray()) throw ArgTypeError(v, "fds", "an array of fds");
  const Napi::Array array = v.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (n > sys::kMaxFdsPerMessage) {
    throw OutOfRange(v.Env(), "The \"fds\" argument may hold at most " +
                                  std::to_string(sys::kMaxFdsPerMessage) + " fds (SCM_MAX_FD). Received " +
                                  std::to_string(n));
  }
  std::vector<int> fds;
  fds.reserve(n);
  for (uint32_t i = 0; i < n; i++)
    fds.push_back(ArgFd(array.Get(i), ("fds[" + std::to_string(i) + "]").c_str()));
  return fds;
}

Napi::Value FdOrNull(Info info, int r, const SysCall& call) {
  if (r == -EAGAIN) return info.Env().Null();
  return Napi::Number::New(info.Env(), static_cast<double>(OwnFd(info.Env(), Check(info.Env(), r, call))));
}

// socketPair(out: Int32Array): writes the two ends into out[0] and out[1].
Napi::Value SocketPair(Info info) {
  const Napi::Value v = info[0];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::TypedArray>().ElementLength() < 2) {
    throw ArgTypeError(v, "out", "an Int32Array of length 2 or more");
  }
  Napi::Int32Array out = v.As<Napi::Int32Array>();
  int fds[2];
  Check(info.Env(), sys::SocketPair(fds), {"socketpair"});
  OwnFd(info.Env(), fds[0]);
  OwnFd(info.Env(), fds[1]);
  out[0] = fds[0];
  out[1] = fds[1];
  return info.Env().Undefined();
}

Napi::Value SocketListen(Info info) {
  const std::string path = ArgString(info[0], "path");
  const int backlog = static_cast<int>(ArgInt(info[1], "backlog", 1, 65535));
  const auto mode = static_cast<unsigned>(ArgInt(info[2], "mode", 0, 07777));
  return Napi::Number::New(info.Env(),
                           OwnFd(info.Env(), Check(info.Env(), sys::Listen(path.c_str(), backlog, mode),
                                                   {"listen", nullptr, -1, path.c_str()})));
}

Napi::Value SocketConnect(Info info) {
  const std::string path = ArgString(info[0], "path");
  return FdOrNull(info, sys::Connect(path.c_str()), {"connect", nullptr, -1, path.c_str()});
}

Napi::Value SocketAccept(Info info) {
  const int fd = ArgFd(info[0]);
  return FdOrNull(info, sys::Accept(fd), {"accept4", nullptr, fd});
}

Napi::Value SocketAdopt(Info info) {
  const int fd = ArgFd(info[0]);
  const int r = sys::AdoptSocket(fd);
  if (r == -EPROTOTYPE)
    throw ErrnoError(info.Env(), r,
                     {"getsockopt", nullptr, fd, nullptr, "not an AF_UNIX SOCK_SEQPACKET socket"});
  Check(info.Env(), r, {"getsockopt", nullptr, fd});
  return info.Env().Undefined();
}

// socketSend(fd, data, fds) → bytes sent, or null when the socket is full (EAGAIN).
Napi::Value SocketSend(Info info) {
  const int fd = ArgFd(info[0]);
  const Bytes data = ArgView(info[1], "data");
  const std::vector<int> fds = ArgFds(info[2]);
  const int64_t r = sys::SendFds(fd, data.data, data.length, fds.data(), fds.size());
  if (r == -EAGAIN) return info.Env().Null();
  return Napi::Number::New(info.Env(), static_cast<double>(Check(info.Env(), r, {"sendmsg", nullptr, fd})));
}

// socketRecv(fd, data, maxFds) → { bytes, fds, truncated }, or null when nothing is queued
// (EAGAIN). `eof` marks the end of stream (bytes 0 with no fds can also be an empty
// record from a live peer: eof is false then). MSG_CTRUNC: the fds that arrived are
// closed and an EMSGSIZE error is thrown (with `closedFds`).
Napi::Value SocketRecv(Info info) {
  const Napi::Env env = info.Env();
  const int fd = ArgFd(info[0]);
  const Bytes data = ArgView(info[1], "data");
  const auto max_fds = static_cast<size_t>(ArgInt(info[2], "maxFds", 0, sys::kMaxFdsPerMessage));
  sys::Received got;
  const int r = sys::RecvFds(fd, data.data, data.length, max_fds, &got);
  if (r == -EAGAIN) return env.Null();
  if (r == -EMSGSIZE) {
    const std::string detail =
        "control message truncated (MSG_CTRUNC): the message carried more fds than room for " +
        std::to_string(max_fds) + " or than this process may open; the " + std::to_string(got.closed) +
        " fd(s) that arrived were closed";
    Napi::Error err = ErrnoError(env, r, {"recvmsg", nullptr, fd, nullptr, detail.c_str()});
    err.Set("closedFds", static_cast<double>(got.closed));
    throw err;
  }
  Check(env, r, {"recvmsg", nullptr, fd});
  // Owned before any JS value is made: in a worker being terminated, making one can throw,
  // and an fd not yet owned would outlive the environment.
  for (const int f : got.fds) OwnFd(env, f);
  Napi::Array fds = Napi::Array::New(env, got.fds.size());
  for (size_t i = 0; i < got.fds.size(); i++)
    fds.Set(static_cast<uint32_t>(i), static_cast<double>(got.fds[i]));
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", static_cast<double>(got.bytes));
  o.Set("fds", fds);
  o.Set("truncated", got.truncated);
  o.Set("eof", got.eof);
  return o;
}

Napi::Value SocketPeerCred(Info info) {
  const int fd = ArgFd(info[0]);
  sys::PeerCredentials cred;
  Check(info.Env(), sys::PeerCred(fd, &cred), {"getsockopt", "SO_PEERCRED", fd});
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("pid", cred.pid);
  o.Set("uid", static_cast<double>(cred.uid));
  o.Set("gid", static_cast<double>(cred.gid));
  return o;
}

// socketError(fd) → the pending socket error as a negative errno, or 0 (SO_ERROR clears it).
Napi::Value SocketError(Info info) {
  const int fd = ArgFd(info[0]);
  const int r = sys::SocketError(fd);
  Check(info.Env(), r, {"getsockopt", "SO_ERROR", fd});
  return Napi::Number::New(info.Env(), -r);
}

Napi::Value SocketShutdown(Info info) {
  const int fd = ArgFd(info[0]);
  const int how = static_cast<int>(ArgInt(info[1], "how", SHUT_RD, SHUT_RDWR));
  Check(info.Env(), sys::Shutdown(fd, how), {"shutdown", nullptr, fd});
  return info.Env().Undefined();
}

}  // namespace

void RegisterSocket(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> fns[] = {
      {"socketPair", SocketPair},       {"socketListen", SocketListen},
      {"socketConnect", SocketConnect}, {"socketAccept", SocketAccept},
      {"socketAdopt", SocketAdopt},     {"socketSend", SocketSend},
      {"socketRecv", SocketRecv},       {"socketPeerCred", SocketPeerCred},
      {"socketError", SocketError},     {"socketShutdown", SocketShutdown},
  };
  for (const auto& [name, cb] : fns) exports.Set(name, Napi::Function::New(env, cb, name));
}

}  // namespace dmabuf
