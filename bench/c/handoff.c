/* The handoff in C, for reference: a child forked once (not timed) waits on a Unix
 * socketpair; each round the parent sends the buffer's fd with SCM_RIGHTS, the child maps
 * it, reads the first and the last byte, unmaps, closes and acknowledges with them; the
 * parent times the round trip.
 *
 * It runs as a server, so that the JS benchmark can interleave its rounds with C's and give
 * both the same idle gaps: it prints "ready", then for each line "<size> <rounds>" on stdin
 * runs that many rounds back to back and prints their µs on one line. The first line for a
 * new size makes and fills that buffer and runs one untimed round, as the JS side warms up.
 * usage: handoff <memfd|udmabuf|dma-heap> serve */
#include "common.h"
#include <sys/socket.h>
#include <sys/wait.h>

static void send_fd(int sock, int fd, uint64_t size) {
  char ctl[CMSG_SPACE(sizeof(int))] = {0};
  struct iovec iov = {&size, sizeof size};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &m, 0) != sizeof size) die("sendmsg");
}

static void child(int sock) {
  for (;;) {
    uint64_t size;
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&size, sizeof size};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n == 0) _exit(0);
    if (n != sizeof size) die("recvmsg");
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS) _exit(3);
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("child mmap");
    uint8_t ack[2] = {p[0], p[size - 1]};
    if (write(sock, ack, 2) != 2) die("child write");
    munmap(p, size);
    close(fd);
  }
}

/* One round trip, µs. */
static double round_trip(int sock, int fd, size_t size) {
  uint8_t ack[2];
  double t0 = now_ns();
  send_fd(sock, fd, size);
  if (read(sock, ack, 2) != 2) die("read ack");
  double t1 = now_ns();
  if (ack[0] != 0xa1 || ack[1] != 0xb2) fprintf(stderr, "bad ack\n"), exit(1);
  return (t1 - t0) / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[2], "serve")) return fprintf(stderr, "usage: handoff kind serve\n"), 2;
  enum kind k = parse_kind(argv[1]);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) close(sv[0]), child(sv[1]);
  close(sv[1]);
  int dev = open_dev(k);
  size_t cur = 0;
  int fd = -1;
  uint8_t *p = NULL;
  char line[128];
  printf("ready\n");
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    size_t size;
    int rounds;
    if (sscanf(line, "%zu %d", &size, &rounds) != 2 || size < 2 || rounds < 0)
      return fprintf(stderr, "bad command '%s'\n", line), 2;
    if (size != cur) {
      if (fd >= 0) munmap(p, cur), close(fd);
      fd = make_buf(k, dev, size);
      p = map_buf(fd, size);
      memset(p, 0x11, size);
      p[0] = 0xa1, p[size - 1] = 0xb2;
      cur = size;
      round_trip(sv[0], fd, size);
    }
    for (int r = 0; r < rounds; r++) printf("%s%.3f", r ? " " : "", round_trip(sv[0], fd, size));
    printf("\n");
    fflush(stdout);
  }
  if (fd >= 0) munmap(p, cur), close(fd);
  close(sv[0]);
  waitpid(pid, 0, 0);
  return 0;
}
