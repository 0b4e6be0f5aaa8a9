/*
 * Baseline for the wtcp passive-open benchmark: this machine's Linux kernel doing the same cycle over
 * loopback, both ends in ONE thread on ONE core (the kernel does the client's work too, so this is a
 * generous comparison for wtcp, which only plays the server and gets pre-built client frames).
 *
 * Cycle per connection, in batches of `batch` connections, mirroring bench/cases/cycle.mjs:
 *   client connect() (SYN, SYN-ACK, ACK) -> server accept() -> client close() (FIN) ->
 *   server close() (FIN, LAST_ACK) -> client's ACK frees the server socket (client goes to TIME-WAIT).
 * Client sockets bind to 127.1.x.y with IP_BIND_ADDRESS_NO_PORT, rotating over 65,536 source
 * addresses, so TIME-WAIT sockets never exhaust the ephemeral ports.
 *
 * Usage: passive_open <samples> <ms per sample> <warmup ms> <batch>
 * Prints one JSON line: {"rates":[conn/s per sample...],"batch":B,"errors":E}
 * Built by bench/cases/kernel.mjs with `cc -O2` into a temporary directory.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int lfd;
static struct sockaddr_in laddr;
static unsigned src_counter;
static long errors;

/* One batch: returns the number of connections completed. */
static int batch_cycle(int batch) {
  int cfd[1024], sfd[1024];
  int n = 0;
  for (int i = 0; i < batch; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c < 0) { errors++; break; }
    int one = 1;
    setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
    unsigned k = src_counter++ & 0xffff;
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | k);
    if (bind(c, (struct sockaddr *)&src, sizeof src) < 0) { errors++; close(c); break; }
    if (connect(c, (struct sockaddr *)&laddr, sizeof laddr) < 0 && errno != EINPROGRESS) {
      errors++; close(c); break;
    }
    cfd[n++] = c;
  }
  int got = 0;
  while (got < n) {
    int s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    if (s < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (poll(&p, 1, 1000) <= 0) { errors++; break; }
        continue;
      }
      errors++;
      break;
    }
    sfd[got++] = s;
  }
  for (int i = 0; i < n; i++) close(cfd[i]);   /* client FIN */
  for (int i = 0; i < got; i++) close(sfd[i]); /* server FIN; the client's ACK frees it */
  return got;
}

int main(int argc, char **argv) {
  int samples = argc > 1 ? atoi(argv[1]) : 5;
  int ms = argc > 2 ? atoi(argv[2]) : 500;
  int warm = argc > 3 ? atoi(argv[3]) : 300;
  int batch = argc > 4 ? atoi(argv[4]) : 64;
  if (batch < 1) batch = 1;
  if (batch > 1024) batch = 1024;

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  laddr.sin_family = AF_INET;
  laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  laddr.sin_port = 0;
  if (bind(lfd, (struct sockaddr *)&laddr, sizeof laddr) < 0) { perror("bind"); return 1; }
  socklen_t len = sizeof laddr;
  getsockname(lfd, (struct sockaddr *)&laddr, &len);
  if (listen(lfd, 4096) < 0) { perror("listen"); return 1; }

  double t0 = now_s();
  while (now_s() - t0 < warm / 1000.0) batch_cycle(batch);

  printf("{\"rates\":[");
  for (int s = 0; s < samples; s++) {
    long conns = 0;
    double a = now_s(), b;
    do { conns += batch_cycle(batch); b = now_s(); } while (b - a < ms / 1000.0);
    printf("%s%.1f", s ? "," : "", conns / (b - a));
  }
  printf("],\"batch\":%d,\"errors\":%ld}\n", batch, errors);
  return 0;
}
