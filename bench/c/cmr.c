/* create → mmap → release in C, as a C program would write it: the device (/dev/udmabuf,
 * /dev/dma_heap/system) stays open; each cycle makes a buffer (memfd_create + ftruncate +
 * F_SEAL_SHRINK [+ UDMABUF_CREATE + close(memfd)] or DMA_HEAP_IOCTL_ALLOC), maps it,
 * writes its first byte, munmaps and closes it.
 * usage: cmr <memfd|udmabuf|dma-heap> <size> <iterations> <rounds> [open-each]
 * With "open-each" the device is opened and closed in every cycle, as the library does.
 * prints {"ns_per_op":[…]} */
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 5) return fprintf(stderr, "usage: cmr kind size iterations rounds [open-each]\n"), 2;
  enum kind k = parse_kind(argv[1]);
  size_t size = strtoull(argv[2], 0, 0);
  long iters = atol(argv[3]);
  int rounds = atoi(argv[4]);
  int open_each = argc > 5 && !strcmp(argv[5], "open-each");
  int dev = open_each ? -1 : open_dev(k);
  double *ns = calloc(rounds, sizeof *ns);
  for (int r = -1; r < rounds; r++) {
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
      if (open_each) dev = open_dev(k);
      int fd = make_buf(k, dev, size);
      if (open_each && dev >= 0) close(dev);
      uint8_t *p = map_buf(fd, size);
      p[0] = 1;
      if (munmap(p, size) < 0) die("munmap");
      close(fd);
    }
    if (r >= 0) ns[r] = (now_ns() - t0) / (double)iters;
  }
  printf("{");
  print_samples("ns_per_op", ns, rounds, 1);
  printf("}\n");
  return 0;
}
