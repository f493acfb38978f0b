/* Filling and copying a mapped buffer in C: memset over the whole mapping, then memcpy
 * from a second mapped buffer of the same kind and size, in place.
 * usage: fill <memfd|udmabuf|dma-heap> <size> <rounds>
 * prints {"fill_ns":[…],"copy_ns":[…]}, one figure per round (the whole buffer). */
#include "common.h"

int main(int argc, char **argv) {
  if (argc != 4) return fprintf(stderr, "usage: fill kind size rounds\n"), 2;
  enum kind k = parse_kind(argv[1]);
  size_t size = strtoull(argv[2], 0, 0);
  int rounds = atoi(argv[3]);
  int dev = open_dev(k);
  int dfd = make_buf(k, dev, size), sfd = make_buf(k, dev, size);
  uint8_t *dst = map_buf(dfd, size), *src = map_buf(sfd, size);
  memset(src, 0x5a, size); /* both mappings are faulted in before timing */
  memset(dst, 0, size);
  double *fill = calloc(rounds, sizeof *fill), *copy = calloc(rounds, sizeof *copy);
  for (int r = -1; r < rounds; r++) {
    double t0 = now_ns();
    memset(dst, r & 0xff, size);
    double t1 = now_ns();
    sink = dst[size - 1];
    memcpy(dst, src, size);
    double t2 = now_ns();
    sink = dst[size - 1];
    if (r >= 0) fill[r] = t1 - t0, copy[r] = t2 - t1;
  }
  printf("{");
  print_samples("fill_ns", fill, rounds, 0);
  print_samples("copy_ns", copy, rounds, 1);
  printf("}\n");
  return 0;
}
