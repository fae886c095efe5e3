// The UDP relay's sessions, found by client address and kept in least-recently-active order so that
// idle ones expire from the head in O(1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/address.h"
#include "core/unique-fd.h"
#include "dgram/session.h"

namespace sockrelay {

// Owns the sessions. Removal unlinks at once but keeps the memory until Reap(), because the epoll
// batch being processed may still hold pointers to a session that just died.
class UdpSessionTable {
 public:
  ~UdpSessionTable();
  // Where removed sessions release their source's count; null: none kept.
  void CountSourcesIn(SourceTable* sources) { sources_ = sources; }
  size_t size() const { return map_.size(); }
  // Whether `canonical` (CanonicalUdpAddr) is the local address of a live session's upstream socket.
  bool IsUpstream(const SockAddr& canonical) const { return upstreams_.count(canonical) > 0; }
  UdpSession* Find(const SockAddr& client) const;
  UdpSession* Insert(const SockAddr& client, UniqueFd fd, uint64_t nowMs);
  void Touch(UdpSession* s, uint64_t nowMs);
  UdpSession* Oldest() const { return oldest_; }
  // Unlinks the session, closes its socket (which also leaves the epoll set) and marks it dead.
  void Remove(UdpSession* s);
  void Reap() { graveyard_.clear(); }
  // Closes every session, for shutdown.
  void Clear();
  // Every live session, for shutdown.
  template <typename F>
  void ForEach(F f) {
    for (UdpSession* s = oldest_; s != nullptr; s = s->newer) f(s);
  }

 private:
  void Unlink(UdpSession* s);
  void LinkNewest(UdpSession* s);

  std::unordered_map<SockAddr, std::unique_ptr<UdpSession>, SockAddrHash, SockAddrEqual> map_;
  std::vector<std::unique_ptr<UdpSession>> graveyard_;
  std::unordered_set<SockAddr, SockAddrHash, SockAddrEqual> upstreams_;
  SourceTable* sources_ = nullptr;
  UdpSession* oldest_ = nullptr;
  UdpSession* newest_ = nullptr;
};

}  // namespace sockrelay
