// Signals that arrive while a reload re-executes the process (native/src/js/exec.cc): none of them
// may end it, and none may be lost. SIGHUP asks for another reload; SIGTERM and SIGINT for a stop,
// which the next program must carry out once it serves (draining the connections it was handed).
//
// Two windows, two sides:
// - The old program, from its last turn of the event loop to execve(2): its signal listeners are
//   libuv's, whose loop will not run again to deliver them. HoldSignalsForExec() makes the calling
//   thread block the three and routes any that another thread takes to it, so they stay pending
//   across the exec.
// - The new program, from its first instruction until JavaScript listens: the kernel resets handlers
//   at exec, and Node's start-up installs an exit handler for SIGTERM and SIGINT. The addon is
//   preloaded into it (AddExecSignalHold sets LD_PRELOAD); its constructor installs a handler that
//   only counts, and keeps Node's exit handlers out. JavaScript takes the counts once it listens.
#pragma once
#include <string>
#include <vector>

namespace sockrelay {

// Old program, on the thread that will call execve, before its last turn of the event loop (what
// libuv already took is delivered in that turn). Idempotent.
void HoldSignalsForExec();
// Old program, when the exec will not happen after all: the signals held meanwhile go to the
// handlers that were there before (libuv's), as if they had just arrived.
void ReleaseSignalsForExec();

// Old program: adds to the next program's environment what makes it preload this library and hold
// the signals (an LD_PRELOAD of its own is kept, ours appended).
void AddExecSignalHold(std::vector<std::string>& envp);

// New program: how many of `signal` (SIGHUP, SIGTERM or SIGINT) came since the exec and before this
// call; resets the count. Call it once JavaScript listens for that signal: from then on they are its.
int TakeSignalsDuringExec(int signal);

}  // namespace sockrelay
