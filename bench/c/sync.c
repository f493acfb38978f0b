/* The CPU-access bracket in C: DMA_BUF_IOCTL_SYNC START|RW, then END|RW, on one buffer.
 * usage: sync <memfd|udmabuf|dma-heap> <size> <iterations> <rounds> [fcntl]
 * prints {"ns_per_op":[…one figure per round…]}, one op = both ioctls.
 * With "fcntl", one op is two fcntl(F_GETFL) instead: the JS twin calls the addon's getFlags
 * twice, so the difference is what a call through the addon costs beyond the syscall.
 * On a memfd (not a dma-buf) the kernel answers ENOTTY: that is the cost of the two
 * syscalls with nothing behind them, reported as such (the floor a bracket can cost). */
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 5) return fprintf(stderr, "usage: sync kind size iterations rounds [fcntl]\n"), 2;
  int fcntl_only = argc > 5 && !strcmp(argv[5], "fcntl");
  enum kind k = parse_kind(argv[1]);
  size_t size = strtoull(argv[2], 0, 0);
  long iters = atol(argv[3]);
  int rounds = atoi(argv[4]);
  int dev = open_dev(k);
  int fd = make_buf(k, dev, size);
  struct dma_buf_sync start = {DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW},
                      end = {DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW};
  double *ns = calloc(rounds, sizeof *ns);
  int expect_fail = k == K_MEMFD;
  for (int r = -1; r < rounds; r++) { /* round -1 warms up (udmabuf builds its sg table at the first begin) */
    double t0 = now_ns();
    for (long i = 0; i < iters && fcntl_only; i++) {
      if (fcntl(fd, F_GETFL) < 0 || fcntl(fd, F_GETFL) < 0) die("fcntl");
    }
    for (long i = 0; i < iters && !fcntl_only; i++) {
      if ((ioctl(fd, DMA_BUF_IOCTL_SYNC, &start) < 0) != expect_fail) die("SYNC START");
      if ((ioctl(fd, DMA_BUF_IOCTL_SYNC, &end) < 0) != expect_fail) die("SYNC END");
    }
    if (r >= 0) ns[r] = (now_ns() - t0) / (double)iters;
  }
  printf("{");
  print_samples("ns_per_op", ns, rounds, 1);
  printf("}\n");
  return 0;
}
