// UDP echo server and request/response load generator for the udp workload, compiled with `cc`
// into the run's temp dir (lib/udp.mjs). In C so that neither end is the bottleneck: on 2 cores,
// load tool, proxy and echo server share the machine, and every cycle spent here is one the proxy
// does not get.
//
//   udp echo MAX_S                  bind 127.0.0.1:0, print "listening PORT", echo every datagram
//                                   back (recvmmsg/sendmmsg batches) for at most MAX_S seconds
//   udp load PORT CLIENTS WARM_S S  CLIENTS sockets, each with one datagram in flight to
//                                   127.0.0.1:PORT: a reply sends the next request. WARM_S seconds
//                                   not counted, then S seconds counted; prints one JSON line.
//
// Requests are 32 bytes carrying the client's index and a sequence number; a reply that does not
// carry the sequence number in flight (a late one after a resend) is counted as stale and ignored.
// A request unanswered for TIMEOUT_MS is counted as a timeout and replaced by the next one.
// RTTs go into a histogram: 100 ns buckets below 1 ms, 10 us buckets from 1 ms to 1 s.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 200
#define MSG 32
#define FINE 10000    // 100 ns buckets: 0 .. 1 ms
#define COARSE 99900  // 10 us buckets: 1 ms .. 1 s
#define MAX_CLIENTS 1024

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  return a;
}

static void bigbuf(int fd) {
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
}

static int echo(double max_s) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  bigbuf(fd);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(fd, (void *)&a, sizeof a) < 0 || getsockname(fd, (void *)&a, &len) < 0) {
    perror("udp echo: bind");
    return 1;
  }
  // Wake up once a second to check the deadline and whether our parent is gone.
  struct timeval tv = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);
  pid_t parent = getppid();
  int64_t end = now_ns() + (int64_t)(max_s * 1e9);
  enum { B = 64 };
  static struct mmsghdr m[B];
  static struct iovec iov[B];
  static struct sockaddr_in names[B];
  static char buf[B][2048];
  while (now_ns() < end && getppid() == parent) {
    for (int i = 0; i < B; i++) {
      iov[i] = (struct iovec){buf[i], sizeof buf[i]};
      m[i].msg_hdr = (struct msghdr){
          .msg_name = &names[i], .msg_namelen = sizeof names[i], .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, m, B, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) iov[i].iov_len = m[i].msg_len;
    sendmmsg(fd, m, n, 0);
  }
  return 0;
}

static uint64_t hist[FINE + COARSE + 1];

static void record(int64_t ns) {
  int64_t i = ns < 1000000 ? ns / 100 : FINE + (ns - 1000000) / 10000;
  hist[i < 0 ? 0 : i > FINE + COARSE ? FINE + COARSE : i]++;
}

// Upper edge of the bucket holding quantile q, in microseconds.
static double quantile(uint64_t total, double q) {
  if (total == 0) return -1;
  uint64_t want = (uint64_t)(q * total), seen = 0;
  if (want >= total) want = total - 1;
  for (int i = 0; i <= FINE + COARSE; i++) {
    seen += hist[i];
    if (seen > want) return i < FINE ? (i + 1) * 0.1 : 1000 + (i - FINE + 1) * 10.0;
  }
  return -1;
}

struct client {
  int fd;
  uint32_t seq;
  int64_t sent;
};

static void request(struct client *c, uint32_t id, int64_t t) {
  uint32_t msg[MSG / 4] = {id, ++c->seq};
  send(c->fd, msg, MSG, 0);
  c->sent = t;
}

static int load(int port, int clients, double warm_s, double seconds) {
  if (clients < 1 || clients > MAX_CLIENTS) {
    fprintf(stderr, "udp load: CLIENTS must be 1..%d\n", MAX_CLIENTS);
    return 2;
  }
  int ep = epoll_create1(0);
  static struct client cl[MAX_CLIENTS];
  struct sockaddr_in a = loopback(port);
  for (int i = 0; i < clients; i++) {
    cl[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (cl[i].fd < 0 || connect(cl[i].fd, (void *)&a, sizeof a) < 0) {
      perror("udp load: socket");
      return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
  }
  int64_t t0 = now_ns();
  int64_t start = t0 + (int64_t)(warm_s * 1e9), end = start + (int64_t)(seconds * 1e9);
  int64_t timeout = (int64_t)TIMEOUT_MS * 1000000, last_scan = t0;
  uint64_t replies = 0, timeouts = 0, stale = 0, errors = 0;
  for (int i = 0; i < clients; i++) request(&cl[i], i, t0);
  struct epoll_event evs[MAX_CLIENTS];
  uint32_t buf[2048 / 4];
  for (;;) {
    int n = epoll_wait(ep, evs, clients, 10);
    int64_t t = now_ns();
    if (t >= end) break;
    int counting = t >= start;
    for (int k = 0; k < n; k++) {
      uint32_t i = evs[k].data.u32;
      struct client *c = &cl[i];
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) break;
        if (r < 0) {  // e.g. ECONNREFUSED from an ICMP error: the timeout resends
          if (counting) errors++;
          continue;
        }
        if (r != MSG || buf[0] != i || buf[1] != c->seq) {
          if (counting) stale++;
          continue;
        }
        if (counting) {
          replies++;
          record(t - c->sent);
        }
        request(c, i, t);
      }
    }
    if (t - last_scan > 10000000) {
      last_scan = t;
      for (int i = 0; i < clients; i++) {
        if (t - cl[i].sent > timeout) {
          if (t >= start) timeouts++;
          request(&cl[i], i, t);
        }
      }
    }
  }
  double el = (now_ns() - start) / 1e9;
  printf(
      "{\"replies\":%llu,\"seconds\":%.4f,\"rate\":%.1f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
      "\"timeouts\":%llu,\"stale\":%llu,\"errors\":%llu}\n",
      (unsigned long long)replies, el, replies / el, quantile(replies, 0.5), quantile(replies, 0.99),
      quantile(replies, 0.999), (unsigned long long)timeouts, (unsigned long long)stale,
      (unsigned long long)errors);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "echo")) return echo(atof(argv[2]));
  if (argc == 6 && !strcmp(argv[1], "load"))
    return load(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: udp echo MAX_S | udp load PORT CLIENTS WARM_S SECONDS\n");
  return 2;
}
