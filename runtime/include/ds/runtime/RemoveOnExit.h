// Files a process removes however it ends: exit, exception, SIGINT/SIGTERM, crash.
#pragma once

#include <string>

namespace ds::rt {

/// Registers `path` (absolute or relative to the current directory at registration time)
/// to be unlinked when the process ends: at exit (atexit), on SIGINT, SIGTERM, SIGHUP,
/// SIGQUIT and on SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL. The first registration
/// installs a handler for each of those signals whose disposition is still the default (a
/// handler that is already there, e.g. ds-run's rank lifetime, calls
/// removeRegisteredFilesNow() itself); the handler removes the files and re-raises the
/// signal with its default action. Returns a slot for unregisterRemoveOnExit; throws
/// ds::rt::Error when the path is too long or the registry (64 entries) is full.
int registerRemoveOnExit(const std::string &path);

/// Forgets a slot (the caller removed the file itself). -1 is ignored.
void unregisterRemoveOnExit(int slot);

/// Unlinks every registered file now. Async-signal-safe (atomics and unlink(2) only):
/// signal handlers and _exit paths call it. Registrations stay (a second call finds
/// nothing to unlink).
void removeRegisteredFilesNow();

} // namespace ds::rt
