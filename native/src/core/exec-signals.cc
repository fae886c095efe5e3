#include "core/exec-signals.h"

#include <dlfcn.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>

// glibc's own name for the real sigaction(2) wrapper, which the interposer below must call. Weak: a
// C library without it resolves the next definition at run time instead.
extern "C" int __sigaction(int, const struct sigaction*, struct sigaction*) __attribute__((weak));

namespace sockrelay {
namespace {

constexpr int kHeld[] = {SIGHUP, SIGTERM, SIGINT};
constexpr int kMaxHeld = 32;
// Set for the new program only; its value is the library to take back out of LD_PRELOAD.
constexpr const char* kHoldMarker = "SOCKRELAY_EXEC_HOLD_SIGNALS";

static_assert(std::atomic<int>::is_always_lock_free, "the handlers must be async-signal-safe");
static_assert(SIGHUP < kMaxHeld && SIGTERM < kMaxHeld && SIGINT < kMaxHeld, "indexed by number");

// New program: signals that came before JavaScript listened, by number.
std::atomic<int> counted[kMaxHeld];
// New program: Node's start-up exit handler for this signal is still to be kept out (once).
std::atomic<bool> keepExitHandlerOut[kMaxHeld];
// Old program: the thread that calls execve, where every held signal is sent to wait (0: no hold),
// and the handlers the hold replaced.
std::atomic<pid_t> execThread{0};
struct sigaction replaced[kMaxHeld];

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

SigactionFn RealSigaction() {
  static const SigactionFn real =
      __sigaction != nullptr ? __sigaction : reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  return real;
}

void Count(int signal) { counted[signal].fetch_add(1, std::memory_order_relaxed); }

// Runs on whichever thread the kernel chose; the exec thread blocks the signal, so it waits there,
// and a signal pending on the thread that calls execve stays pending in the new program.
void ForwardToExecThread(int signal) {
  int saved = errno;
  syscall(SYS_tgkill, getpid(), execThread.load(std::memory_order_relaxed), signal);
  errno = saved;
}

// `previous`, when given, receives the handlers replaced, by signal number.
void InstallForHeld(void (*handler)(int), struct sigaction* previous) {
  struct sigaction action = {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : kHeld) RealSigaction()(signal, &action, previous ? &previous[signal] : nullptr);
}

sigset_t HeldSet() {
  sigset_t held;
  sigemptyset(&held);
  for (int signal : kHeld) sigaddset(&held, signal);
  return held;
}

// LD_PRELOAD without `library` (entries are separated by ':' or ' '); unset when nothing is left.
void RemoveFromPreload(const std::string& library) {
  const char* value = getenv("LD_PRELOAD");
  if (value == nullptr) return;
  std::string kept, entry;
  std::string all = std::string(value) + ":";
  for (char ch : all) {
    if (ch != ':' && ch != ' ') {
      entry += ch;
      continue;
    }
    if (!entry.empty() && entry != library) kept += (kept.empty() ? "" : ":") + entry;
    entry.clear();
  }
  if (kept.empty()) unsetenv("LD_PRELOAD");
  else setenv("LD_PRELOAD", kept.c_str(), 1);
}

// Runs when the library is loaded: preloaded by a reload's exec, before Node's main, or required
// as usual (then nothing is asked of it). Children of the new program never see the preload.
__attribute__((constructor)) void HoldSignalsFromExec() {
  const char* library = getenv(kHoldMarker);
  if (library == nullptr) return;
  RemoveFromPreload(library);
  unsetenv(kHoldMarker);
  keepExitHandlerOut[SIGTERM] = true;
  keepExitHandlerOut[SIGINT] = true;
  // Node keeps a handler it finds installed (it resets only SIG_IGN), and unblocks the signals the
  // old program left pending: they come here.
  InstallForHeld(Count, nullptr);
}

}  // namespace

void HoldSignalsForExec() {
  if (execThread != 0) return;
  execThread = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t held = HeldSet();
  // Blocked before the handler is in place, so it never runs on this thread (it would resend forever).
  pthread_sigmask(SIG_BLOCK, &held, nullptr);
  InstallForHeld(ForwardToExecThread, replaced);
}

void ReleaseSignalsForExec() {
  if (execThread == 0) return;
  for (int signal : kHeld) RealSigaction()(signal, &replaced[signal], nullptr);
  execThread = 0;
  sigset_t held = HeldSet();
  // What waited here is delivered now, to the handlers just put back.
  pthread_sigmask(SIG_UNBLOCK, &held, nullptr);
}

void AddExecSignalHold(std::vector<std::string>& envp) {
  Dl_info self;
  char path[PATH_MAX];
  if (dladdr(reinterpret_cast<void*>(&Count), &self) == 0 || self.dli_fname == nullptr ||
      realpath(self.dli_fname, path) == nullptr)
    return;
  // LD_PRELOAD separates entries with ':' and ' ': such a path cannot be preloaded (no hold then).
  if (std::string(path).find_first_of(": ") != std::string::npos) return;
  std::string preload = std::string("LD_PRELOAD=") + path;
  for (std::string& var : envp) {
    if (var.rfind("LD_PRELOAD=", 0) != 0) continue;
    // Its own preloads first, as the operator set them; ours last, taken out again at once.
    preload = var + ":" + path;
    var.swap(envp.back());
    envp.pop_back();
    break;
  }
  envp.push_back(preload);
  envp.push_back(std::string(kHoldMarker) + "=" + path);
}

int TakeSignalsDuringExec(int signal) {
  if (signal <= 0 || signal >= kMaxHeld) return 0;
  return counted[signal].exchange(0);
}

}  // namespace sockrelay

// Node's start-up installs an exit handler for SIGTERM and SIGINT (one-shot: SA_RESETHAND) in every
// process. In a program started by a reload that would end it, and cut every connection it was
// handed, before JavaScript can listen; so that one registration is kept out and the counting
// handler stays. Every other call goes through unchanged. This definition is seen only when the
// library is preloaded; loaded by require(), the process's calls never reach it.
extern "C" __attribute__((visibility("default"))) int sigaction(int signal, const struct sigaction* action,
                                                              struct sigaction* old) {
  if (action != nullptr && (action->sa_flags & SA_RESETHAND) && signal > 0 && signal < sockrelay::kMaxHeld &&
      sockrelay::keepExitHandlerOut[signal].exchange(false))
    return sockrelay::RealSigaction()(signal, nullptr, old);
  return sockrelay::RealSigaction()(signal, action, old);
}
