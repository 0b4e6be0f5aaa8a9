/*
 * Baselines for the wtcp bulk-transfer benchmark (bench/cases/bulk.mjs), built by
 * bench/cases/kernelbulk.mjs with `cc -O2` into a temporary directory at bench time.
 *
 *   bulk tcp1 <samples> <ms> <warmup ms> <mss>   this machine's kernel, one TCP connection over
 *       loopback (127.0.0.1), sender and receiver in ONE thread with non-blocking sockets (so on
 *       one CPU when the process is pinned): send() 64 KiB while the socket takes it, then recv()
 *       256 KiB at a time until EAGAIN, repeat. mss > 0 sets TCP_MAXSEG on both ends first.
 *   bulk tcp2 <samples> <ms> <warmup ms> <mss>   the same with the sender in a second process
 *       (blocking send()), each process pinned to its own CPU when the machine has two.
 *   bulk memcpy <samples> <ms> <warmup ms> <size> memcpy() of `size`-byte blocks between two
 *       buffers of 1 MiB (cache-resident), the copy speed of this machine.
 *
 * Prints one JSON line: {"rates":[bits per second per sample...],"errors":E}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char sbuf[65536], rbuf[262144];
static long errors;

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  sched_setaffinity(0, sizeof s, &s);
}

/* a connected pair over loopback: *cfd (client, sender) and *sfd (accepted, receiver) */
static int tcp_pair(int mss, int nonblock, int *cfd, int *sfd) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (mss > 0) setsockopt(l, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) { perror("listen"); return -1; }
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr *)&a, &len);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (mss > 0) setsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return -1; }
  int s = accept(l, NULL, NULL);
  if (s < 0) { perror("accept"); return -1; }
  close(l);
  (void)nonblock;   /* tcp1 uses MSG_DONTWAIT per call */
  *cfd = c; *sfd = s;
  return 0;
}

/* one thread: returns bytes received in [t, t + secs) */
static double one_thread_bytes(int c, int s, double secs) {
  double t0 = now_s(), bytes = 0;
  while (now_s() - t0 < secs) {
    for (;;) {
      ssize_t n = send(c, sbuf, sizeof sbuf, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) { if (n < 0 && errno != EAGAIN) errors++; break; }
    }
    for (;;) {
      ssize_t n = recv(s, rbuf, sizeof rbuf, MSG_DONTWAIT);
      if (n <= 0) { if (n < 0 && errno != EAGAIN) errors++; break; }
      bytes += (double)n;
    }
  }
  return bytes;
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: bulk tcp1|tcp2|memcpy samples ms warmup_ms mss|size\n"); return 2; }
  const char *mode = argv[1];
  int samples = atoi(argv[2]), ms = atoi(argv[3]), warm = atoi(argv[4]), arg = atoi(argv[5]);
  double secs = ms / 1000.0;
  memset(sbuf, 0x5a, sizeof sbuf);
  printf("{\"rates\":[");
  if (!strcmp(mode, "memcpy")) {
    static char src[1 << 20], dst[1 << 20];
    memset(src, 1, sizeof src);
    size_t size = arg > 0 && arg <= (1 << 20) ? (size_t)arg : 65536;
    for (int smp = -1; smp < samples; smp++) {
      double t0 = now_s(), bytes = 0, t;
      size_t off = 0;
      do {
        for (int k = 0; k < 64; k++) {
          memcpy(dst + off, src + off, size);
          off += size; if (off + size > sizeof src) off = 0;
          bytes += (double)size;
        }
        __asm__ volatile("" ::: "memory");
        t = now_s();
      } while (t - t0 < (smp < 0 ? warm / 1000.0 : secs));
      if (smp >= 0) printf("%s%.0f", smp ? "," : "", bytes * 8 / (t - t0));
    }
  } else if (!strcmp(mode, "tcp1")) {
    int c, s;
    if (tcp_pair(arg, 1, &c, &s) < 0) return 1;
    one_thread_bytes(c, s, warm / 1000.0);
    for (int smp = 0; smp < samples; smp++) {
      double t0 = now_s();
      double bytes = one_thread_bytes(c, s, secs);
      printf("%s%.0f", smp ? "," : "", bytes * 8 / (now_s() - t0));
    }
  } else if (!strcmp(mode, "tcp2")) {
    int c, s;
    if (tcp_pair(arg, 0, &c, &s) < 0) return 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      if (ncpu > 1) pin(0);
      for (;;) if (send(c, sbuf, sizeof sbuf, MSG_NOSIGNAL) < 0) _exit(0);
    }
    close(c);
    if (ncpu > 1) pin(1);
    double t0 = now_s();
    while (now_s() - t0 < warm / 1000.0) if (recv(s, rbuf, sizeof rbuf, 0) <= 0) { errors++; break; }
    for (int smp = 0; smp < samples; smp++) {
      double a = now_s(), bytes = 0, b = a;
      do { ssize_t n = recv(s, rbuf, sizeof rbuf, 0); if (n <= 0) { errors++; break; } bytes += (double)n; b = now_s(); } while (b - a < secs);
      printf("%s%.0f", smp ? "," : "", bytes * 8 / (b - a));
    }
    close(s);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  } else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
  printf("],\"errors\":%ld}\n", errors);
  return 0;
}
