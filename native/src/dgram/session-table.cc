#include "dgram/session-table.h"

#include <sys/socket.h>

namespace sockrelay {

UdpSessionTable::~UdpSessionTable() = default;

UdpSession* UdpSessionTable::Find(const SockAddr& client) const {
  auto it = map_.find(client);
  return it == map_.end() ? nullptr : it->second.get();
}

UdpSession* UdpSessionTable::Insert(const SockAddr& client, UniqueFd fd, uint64_t nowMs) {
  auto s = std::make_unique<UdpSession>();
  s->fd = std::move(fd);
  s->client = client;
  s->lastActiveMs = nowMs;
  s->openedMs = nowMs;
  // One syscall per session, so that a client forging this address is refused (dgram/loop-guard.h).
  SockAddr local;
  local.len = sizeof local.ss;
  if (getsockname(s->fd.get(), local.get(), &local.len) == 0) {
    s->upstreamLocal = CanonicalUdpAddr(local);
    upstreams_.insert(s->upstreamLocal);
  }
  UdpSession* raw = s.get();
  map_.emplace(client, std::move(s));
  LinkNewest(raw);
  return raw;
}

void UdpSessionTable::Touch(UdpSession* s, uint64_t nowMs) {
  s->lastActiveMs = nowMs;
  if (s == newest_) return;
  Unlink(s);
  LinkNewest(s);
}

void UdpSessionTable::Remove(UdpSession* s) {
  auto it = map_.find(s->client);
  if (it == map_.end() || it->second.get() != s) return;
  Unlink(s);
  if (sources_) sources_->Release(&s->source);
  if (s->upstreamLocal.len > 0) upstreams_.erase(s->upstreamLocal);
  s->dead = true;
  s->fd.Close();
  graveyard_.push_back(std::move(it->second));
  map_.erase(it);
}

void UdpSessionTable::Clear() {
  map_.clear();
  upstreams_.clear();
  graveyard_.clear();
  oldest_ = newest_ = nullptr;
}

void UdpSessionTable::Unlink(UdpSession* s) {
  if (s->older != nullptr) s->older->newer = s->newer;
  else oldest_ = s->newer;
  if (s->newer != nullptr) s->newer->older = s->older;
  else newest_ = s->older;
  s->older = s->newer = nullptr;
}

void UdpSessionTable::LinkNewest(UdpSession* s) {
  s->older = newest_;
  s->newer = nullptr;
  if (newest_ != nullptr) newest_->newer = s;
  else oldest_ = s;
  newest_ = s;
}

}  // namespace sockrelay
