// The two directions of the data path: client datagrams from the inherited socket to each client's
// upstream socket, and backend replies back through the inherited socket from the address the client
// sent to. Errors sort by core/errno-kind.h: transient (drop the datagram, count it), a peer gone
// (end that session, warn; on the inherited socket, an ICMP echo of an earlier datagram: ignore) and
// the inherited socket failing (warn, rest briefly).
#include <sys/un.h>

#include <cerrno>
#include <cstddef>

#include "core/errno-kind.h"
#include "dgram/batch.h"
#include "dgram/relay.h"
#include "dgram/pktinfo.h"
#include "core/proxy-header.h"

namespace sockrelay {
namespace {
// After an unexpected error on the inherited socket, rest instead of spinning on it.
constexpr uint64_t kListenPauseMs = 100;
}  // namespace

void UdpCore::OnListenReadable(uint64_t now) {
  gate_.Admit([this, now] {
    batch_->PrepareRecv(true);
    int n = recvmmsg(config_.fd, batch_->in, kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      int err = errno;
      // ICMP errors queued on the socket, reported once and harmless: carry on.
      if (IsTransient(err) || IsDisconnect(err)) return;
      warnings_.SocketError(err, "recvmmsg", now);
      // Rest instead of spinning on a socket that fails this way.
      gate_.Pause(now + kListenPauseMs);
      return;
    }
    for (int k = 0; k < n; k++) ForwardToBackend(k, now);
  });
}

void UdpCore::ForwardToBackend(int k, uint64_t now) {
  const struct mmsghdr& m = batch_->in[k];
  if (m.msg_hdr.msg_flags & MSG_TRUNC) return Drop(kDropTruncated);
  SockAddr& client = batch_->names[k];
  client.len = m.msg_hdr.msg_namelen;
  if (family_ == AF_UNIX && client.len <= offsetof(struct sockaddr_un, sun_path)) {
    return Drop(kDropUnboundClient);
  }
  NormalizeUdpAddr(&client);
  UdpSession* s = sessions_.Find(client);
  if (s == nullptr) {
    SockAddr destination;
    UdpDestination(m.msg_hdr, local_, &destination);
    if (loopGuard_.WouldLoop(client, destination, sessions_)) return Drop(kDropWouldLoop);
    if ((s = OpenSession(client, now)) == nullptr) return;
  }
  s->controlLen = BuildUdpReplyControl(m.msg_hdr, s->control);
  sessions_.Touch(s, now);
  if (SendUpstream(s, m.msg_hdr, client, batch_->inIov[k].iov_base, m.msg_len) >= 0) {
    counters_.datagramsIn.fetch_add(1, std::memory_order_relaxed);
    counters_.bytesIn.fetch_add(m.msg_len, std::memory_order_relaxed);
    s->bytesIn += m.msg_len;
    return;
  }
  int err = errno;
  if (IsTransient(err) || err == ENOBUFS) return Drop(kDropSendFailed);
  // Too large for the backend's family: this datagram alone, with or without a PROXY header.
  if (err == EMSGSIZE) return Drop(kDropTooLarge);
  // ECONNREFUSED here is the ICMP answer to an earlier datagram: the backend is not listening.
  Drop(kDropBackendError);
  warnings_.SessionError(s->client, err, "send", now);
  CloseSession(s);
}

ssize_t UdpCore::SendUpstream(UdpSession* s, const struct msghdr& received, const SockAddr& client,
                              void* payload, size_t length) {
  if (!config_.proxyV2) return send(s->fd.get(), payload, length, MSG_DONTWAIT);
  SockAddr destination;
  UdpDestination(received, local_, &destination);
  size_t headerLength = BuildProxyHeader(2, Transport::kDgram, client, destination, proxyHeader_);
  if (s->payloadMax != 0 && headerLength + length > s->payloadMax) {
    // Cutting the payload would hand the backend a datagram the client never sent.
    errno = EMSGSIZE;
    return -1;
  }
  struct iovec iov[2] = {{proxyHeader_, headerLength}, {payload, length}};
  struct msghdr h {};
  h.msg_iov = iov;
  h.msg_iovlen = 2;
  return sendmsg(s->fd.get(), &h, MSG_DONTWAIT);
}

void UdpCore::OnUpstreamReadable(UdpSession* s, uint64_t now) {
  if (s->dead) return;
  batch_->PrepareRecv(false);
  int n = recvmmsg(s->fd.get(), batch_->in, kUdpBatch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    int err = errno;
    if (IsTransient(err)) return;
    // ECONNREFUSED, EHOSTUNREACH, …: the backend is gone for this client; the relay goes on.
    warnings_.SessionError(s->client, err, "recvmmsg", now);
    CloseSession(s);
    return;
  }
  int count = 0;
  for (int k = 0; k < n; k++) {
    const struct mmsghdr& m = batch_->in[k];
    if (m.msg_hdr.msg_flags & MSG_TRUNC) {
      Drop(kDropTruncated);
      continue;
    }
    batch_->outIov[count] = {batch_->inIov[k].iov_base, m.msg_len};
    struct msghdr& h = batch_->out[count].msg_hdr;
    h = {};
    h.msg_name = &s->client.ss;
    h.msg_namelen = s->client.len;
    h.msg_iov = &batch_->outIov[count];
    h.msg_iovlen = 1;
    if (s->controlLen > 0) {
      h.msg_control = s->control;
      h.msg_controllen = s->controlLen;
    }
    count++;
  }
  sessions_.Touch(s, now);
  s->bytesOut += SendToClient(count);
}

uint64_t UdpCore::SendToClient(int count) {
  uint64_t datagrams = 0, bytes = 0;
  int i = 0;
  while (i < count) {
    int sent = sendmmsg(config_.fd, batch_->out + i, count - i, MSG_DONTWAIT);
    if (sent > 0) {
      for (int j = i; j < i + sent; j++) bytes += batch_->out[j].msg_len;
      datagrams += sent;
      i += sent;
      continue;
    }
    if (IsTransient(errno) || errno == ENOBUFS) {
      // The socket buffer is full: the rest of this batch would fail the same way.
      Drop(kDropSendFailed, count - i);
      break;
    }
    // This one datagram was refused (client gone, firewall, source address removed): skip it alone.
    Drop(kDropSendFailed);
    i++;
  }
  counters_.datagramsOut.fetch_add(datagrams, std::memory_order_relaxed);
  counters_.bytesOut.fetch_add(bytes, std::memory_order_relaxed);
  return bytes;
}

}  // namespace sockrelay
