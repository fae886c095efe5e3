#include "core/source-table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>

namespace sockrelay {
namespace {

uint64_t Mix(uint64_t a, uint64_t b) {
  // One 64x64→128 multiply, folded: a full-avalanche mix of two words (wyhash's "mum").
  unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

uint64_t BigEndian64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

// Keeps the first `bits` bits of the 128-bit value hi:lo.
void Mask(uint64_t* hi, uint64_t* lo, int bits) {
  if (bits <= 0) {
    *hi = *lo = 0;
  } else if (bits < 64) {
    *hi &= ~uint64_t{0} << (64 - bits);
    *lo = 0;
  } else if (bits == 64) {
    *lo = 0;
  } else if (bits < 128) {
    *lo &= ~uint64_t{0} << (128 - bits);
  }
}

}  // namespace

size_t SourceTableSize(size_t cap) { return std::min<size_t>(65536, std::max<size_t>(1024, cap * 2)); }

SourceTable::SourceTable(const SourceLimits& limits, size_t capacity)
    : limits_(limits), entries_(std::max<size_t>(1, capacity)) {
  size_t buckets = 1;
  while (buckets < entries_.size() * 2) buckets <<= 1;
  buckets_.assign(buckets, -1);
  bucketMask_ = buckets - 1;
  // A seed nobody outside knows: without it a client could pick addresses that share one chain.
  if (getrandom(seed_, sizeof seed_, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed_)) {
    seed_[0] = reinterpret_cast<uintptr_t>(this) ^ 0x9e3779b97f4a7c15ULL;
    seed_[1] = reinterpret_cast<uintptr_t>(&buckets_) ^ 0xbf58476d1ce4e5b9ULL;
  }
}

SourceTable::Key SourceTable::KeyOf(const SourceLimits& limits, const SockAddr& peer) {
  Key key;
  if (peer.family() == AF_INET && peer.len >= sizeof(struct sockaddr_in)) {
    const auto* in = reinterpret_cast<const struct sockaddr_in*>(&peer.ss);
    key.family = 4;
    key.hi = static_cast<uint64_t>(ntohl(in->sin_addr.s_addr)) << 32;
    Mask(&key.hi, &key.lo, limits.prefix4);
  } else if (peer.family() == AF_INET6 && peer.len >= sizeof(struct sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&peer.ss);
    const unsigned char* a = in6->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      key.family = 4;
      key.hi = static_cast<uint64_t>(BigEndian64(a + 8) & 0xffffffffULL) << 32;
      Mask(&key.hi, &key.lo, limits.prefix4);
    } else {
      key.family = 6;
      key.hi = BigEndian64(a);
      key.lo = BigEndian64(a + 8);
      Mask(&key.hi, &key.lo, limits.prefix6);
    }
  }
  return key;
}

size_t SourceTable::Bucket(const Key& key) const {
  return Mix(key.hi ^ seed_[0], key.lo ^ seed_[1] ^ key.family) & bucketMask_;
}

int32_t SourceTable::Find(const Key& key) const {
  for (int32_t i = buckets_[Bucket(key)]; i >= 0; i = entries_[i].hashNext)
    if (entries_[i].key == key) return i;
  return -1;
}

void SourceTable::Refill(Entry& e, uint64_t nowMs) const {
  if (limits_.rateCount == 0) return;
  uint64_t full = static_cast<uint64_t>(limits_.rateCount) * limits_.rateSpanMs;
  if (nowMs > e.refilledMs) e.tokens = std::min(full, e.tokens + (nowMs - e.refilledMs) * limits_.rateCount);
  e.refilledMs = nowMs;
}

int32_t SourceTable::Take(const Key& key, uint64_t nowMs) {
  int32_t i = Find(key);
  if (i >= 0) {
    Refill(entries_[i], nowMs);
    return i;
  }
  if (fresh_ < entries_.size()) {
    i = static_cast<int32_t>(fresh_++);
  } else {
    // The least recently seen source with nothing open, else (the table is full of open ones) the
    // least recently seen of all, whose tickets go stale with the generation.
    List& from = idle_.tail >= 0 ? idle_ : busy_;
    i = from.tail;
    Unlink(from, i);
    Unhash(i);
  }
  Entry& e = entries_[i];
  uint32_t generation = e.generation + 1;
  e = Entry();
  e.generation = generation;
  e.key = key;
  e.used = true;
  e.tokens = static_cast<uint64_t>(limits_.rateCount) * limits_.rateSpanMs;
  e.refilledMs = nowMs;
  size_t b = Bucket(key);
  e.hashNext = buckets_[b];
  buckets_[b] = i;
  PushFront(idle_, i);
  return i;
}

void SourceTable::Unhash(int32_t i) {
  int32_t* link = &buckets_[Bucket(entries_[i].key)];
  while (*link != i) link = &entries_[*link].hashNext;
  *link = entries_[i].hashNext;
  entries_[i].hashNext = -1;
}

void SourceTable::Unlink(List& list, int32_t i) {
  Entry& e = entries_[i];
  if (e.prev >= 0) entries_[e.prev].next = e.next;
  else list.head = e.next;
  if (e.next >= 0) entries_[e.next].prev = e.prev;
  else list.tail = e.prev;
  e.prev = e.next = -1;
}

void SourceTable::PushFront(List& list, int32_t i) {
  Entry& e = entries_[i];
  e.prev = -1;
  e.next = list.head;
  if (list.head >= 0) entries_[list.head].prev = i;
  else list.tail = i;
  list.head = i;
}

void SourceTable::Touch(int32_t i) {
  List& list = ListOf(entries_[i]);
  if (list.head == i) return;
  Unlink(list, i);
  PushFront(list, i);
}

SourceVerdict SourceTable::Admit(const SockAddr& peer, uint64_t nowMs, SourceTicket* ticket) {
  *ticket = SourceTicket();
  Key key = KeyOf(limits_, peer);
  if (key.family == 0) return SourceVerdict::kAdmitted;
  int32_t i = Take(key, nowMs);
  Entry& e = entries_[i];
  Touch(i);
  // A refused attempt takes neither a slot nor a token: a client at its limit that keeps trying is
  // admitted as soon as one of its connections ends.
  if (limits_.perSource > 0 && e.open >= limits_.perSource) return SourceVerdict::kOverLimit;
  if (limits_.rateCount > 0) {
    if (e.tokens < limits_.rateSpanMs) return SourceVerdict::kOverRate;
    e.tokens -= limits_.rateSpanMs;
  }
  if (e.open++ == 0) {
    Unlink(idle_, i);
    PushFront(busy_, i);
  }
  *ticket = {static_cast<uint32_t>(i), e.generation};
  return SourceVerdict::kAdmitted;
}

void SourceTable::Add(const SockAddr& peer, uint64_t nowMs, SourceTicket* ticket) {
  *ticket = SourceTicket();
  Key key = KeyOf(limits_, peer);
  if (key.family == 0) return;
  int32_t i = Take(key, nowMs);
  Entry& e = entries_[i];
  if (e.open++ == 0) {
    Unlink(idle_, i);
    PushFront(busy_, i);
  } else {
    Touch(i);
  }
  *ticket = {static_cast<uint32_t>(i), e.generation};
}

void SourceTable::Release(SourceTicket* ticket) {
  SourceTicket t = *ticket;
  *ticket = SourceTicket();
  if (t.slot == SourceTicket::kNone || t.slot >= entries_.size()) return;
  Entry& e = entries_[t.slot];
  if (!e.used || e.generation != t.generation || e.open == 0) return;
  if (--e.open == 0) {
    Unlink(busy_, static_cast<int32_t>(t.slot));
    PushFront(idle_, static_cast<int32_t>(t.slot));
  }
}

uint32_t SourceTable::OpenOf(const SockAddr& peer) const {
  Key key = KeyOf(limits_, peer);
  if (key.family == 0) return 0;
  int32_t i = Find(key);
  return i < 0 ? 0 : entries_[i].open;
}

std::string SourceTable::Describe(const SourceLimits& limits, const SockAddr& peer) {
  Key key = KeyOf(limits, peer);
  char text[INET6_ADDRSTRLEN];
  if (key.family == 4) {
    struct in_addr a;
    a.s_addr = htonl(static_cast<uint32_t>(key.hi >> 32));
    inet_ntop(AF_INET, &a, text, sizeof text);
    return limits.prefix4 >= 32 ? text : std::string(text) + "/" + std::to_string(limits.prefix4);
  }
  if (key.family == 6) {
    struct in6_addr a;
    for (int b = 0; b < 8; b++) {
      a.s6_addr[b] = static_cast<unsigned char>(key.hi >> (56 - 8 * b));
      a.s6_addr[8 + b] = static_cast<unsigned char>(key.lo >> (56 - 8 * b));
    }
    inet_ntop(AF_INET6, &a, text, sizeof text);
    return limits.prefix6 >= 128 ? text : std::string(text) + "/" + std::to_string(limits.prefix6);
  }
  return FormatAddress(peer);
}

}  // namespace sockrelay
