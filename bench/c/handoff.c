/* The handoff in C, for reference: a child forked once (not timed) waits on a Unix
 * socketpair; each round the parent sends the buffer's fd with SCM_RIGHTS, the child
 * maps it, reads the first and the last byte, unmaps, closes and acknowledges with them;
 * the parent times the round trip. The buffer is made and filled before timing; rounds are
 * <pause> µs apart, as the JS rounds are (an idle gap, as between frames).
 * usage: handoff <memfd|udmabuf|dma-heap> <rounds> <pause µs> <size> [size…]
 * prints {"<size>":[µs per round…],…} */
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

int main(int argc, char **argv) {
  if (argc < 5) return fprintf(stderr, "usage: handoff kind rounds pause-us size…\n"), 2;
  enum kind k = parse_kind(argv[1]);
  int rounds = atoi(argv[2]);
  useconds_t pause = (useconds_t)atol(argv[3]);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) close(sv[0]), child(sv[1]);
  close(sv[1]);
  int dev = open_dev(k);
  double *us = calloc(rounds, sizeof *us);
  printf("{");
  for (int a = 4; a < argc; a++) {
    size_t size = strtoull(argv[a], 0, 0);
    int fd = make_buf(k, dev, size);
    uint8_t *p = map_buf(fd, size);
    memset(p, 0x11, size);
    p[0] = 0xa1, p[size - 1] = 0xb2;
    for (int r = -1; r < rounds; r++) {
      uint8_t ack[2];
      double t0 = now_ns();
      send_fd(sv[0], fd, size);
      if (read(sv[0], ack, 2) != 2) die("read ack");
      double t1 = now_ns();
      if (ack[0] != 0xa1 || ack[1] != 0xb2) return fprintf(stderr, "bad ack\n"), 1;
      if (r >= 0) us[r] = (t1 - t0) / 1e3;
      usleep(pause); /* the child finishes munmap/close meanwhile */
    }
    munmap(p, size);
    close(fd);
    print_samples(argv[a], us, rounds, a == argc - 1);
  }
  printf("}\n");
  close(sv[0]);
  waitpid(pid, 0, 0);
  return 0;
}
