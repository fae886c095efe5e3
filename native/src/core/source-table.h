// Per-source admission: how many connections (or UDP sessions) one client source holds, and how fast
// it opens new ones, so that one client cannot take every slot of the global cap.
//
// A source is the client's address cut to a prefix (IPv4 /32 and IPv6 /64 by default: one host, one
// customer network); an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) is an IPv4 source.
// Unix and other clients have no address worth grouping by (a stream client is unnamed, a datagram
// client names itself) and are never limited: the socket's file permissions admit them.
//
// The table has a fixed number of entries, allocated once, so a flood of sources costs no memory
// beyond it. A new source takes the entry of the least recently seen source that holds nothing open
// (only its rate state is lost); only when every entry holds open connections, the least recently seen
// of those goes, and the tickets of its connections go stale (their release is then a no-op). Sized
// above the cap, that never happens while the cap holds. Every operation is O(1): one keyed hash
// lookup (keyed with a random seed, so that a client cannot choose addresses that collide) and a few
// list moves. Nothing here runs per byte or per datagram of an admitted flow.
//
// Not thread-safe: the caller serialises (the stream gate's mutex, the UDP relay's one thread).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"

namespace sockrelay {

struct SourceLimits {
  // Open connections (sessions) per source at most; 0: no limit.
  uint32_t perSource = 0;
  // New connections (sessions) per source: a bucket of rateCount tokens, refilled over rateSpanMs;
  // rateCount 0: no rate limit.
  uint32_t rateCount = 0;
  uint64_t rateSpanMs = 0;
  int prefix4 = 32;
  int prefix6 = 64;
  bool enabled() const { return perSource > 0 || rateCount > 0; }
};

enum class SourceVerdict { kAdmitted, kOverLimit, kOverRate };

// What an admitted connection holds of its source's entry; release it once when the connection ends.
struct SourceTicket {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t slot = kNone;
  uint32_t generation = 0;
};

// Entries for a relay capped at `cap`: twice the cap (every open connection's source fits, with as
// many again remembered for their rate), at least 1024, at most 65536 (4 MB).
size_t SourceTableSize(size_t cap);

class SourceTable {
 public:
  // `capacity` entries; at least 1.
  SourceTable(const SourceLimits& limits, size_t capacity);

  const SourceLimits& limits() const { return limits_; }
  // Counts a new connection of `peer` if its source is within its limits; *ticket is set when it is
  // counted (an unlimited unix client gets no ticket and is admitted).
  SourceVerdict Admit(const SockAddr& peer, uint64_t nowMs, SourceTicket* ticket);
  // Counts a connection that is open already (handed over by a previous instance), limits or not.
  void Add(const SockAddr& peer, uint64_t nowMs, SourceTicket* ticket);
  // The connection of `ticket` has ended (or left in a handover). Clears the ticket; safe to repeat.
  void Release(SourceTicket* ticket);
  // The source of `peer` as text: "198.51.100.7" or "2001:db8:1:2::/64"; the address for others.
  static std::string Describe(const SourceLimits& limits, const SockAddr& peer);
  // Open connections counted for the source of `peer` (tests and diagnostics).
  uint32_t OpenOf(const SockAddr& peer) const;

 private:
  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    // 4 or 6; 0: not a source (unix, unknown).
    uint8_t family = 0;
    bool operator==(const Key& o) const { return hi == o.hi && lo == o.lo && family == o.family; }
  };
  struct Entry {
    Key key;
    uint32_t open = 0;
    uint32_t generation = 0;
    // Tokens scaled by rateSpanMs (one connection costs rateSpanMs), so refilling is integer math.
    uint64_t tokens = 0;
    uint64_t refilledMs = 0;
    int32_t hashNext = -1;
    int32_t prev = -1;
    int32_t next = -1;
    bool used = false;
  };
  // Most recently seen first; entries holding open connections are kept apart from the others, so
  // eviction finds an idle one in O(1).
  struct List {
    int32_t head = -1;
    int32_t tail = -1;
  };

  static Key KeyOf(const SourceLimits& limits, const SockAddr& peer);
  size_t Bucket(const Key& key) const;
  int32_t Find(const Key& key) const;
  int32_t Take(const Key& key, uint64_t nowMs);
  void Unhash(int32_t i);
  void Unlink(List& list, int32_t i);
  void PushFront(List& list, int32_t i);
  List& ListOf(const Entry& e) { return e.open > 0 ? busy_ : idle_; }
  void Touch(int32_t i);
  void Refill(Entry& e, uint64_t nowMs) const;

  SourceLimits limits_;
  std::vector<Entry> entries_;
  std::vector<int32_t> buckets_;
  size_t bucketMask_ = 0;
  uint64_t seed_[2] = {0, 0};
  // Entries never used yet are handed out in order before any eviction.
  size_t fresh_ = 0;
  List idle_;
  List busy_;
};

}  // namespace sockrelay
