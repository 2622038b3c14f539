// File helpers shared by bimd and bim. Errors name the path and the OS reason.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace bim {

// Writes `contents` to `path` atomically: a temp file "<dir>/.<name>.tmp-<pid>" in the same directory,
// fsync (unless `sync` is false), chmod `mode`, rename over `path`. A crash leaves either the old or
// the new file (and maybe a temp file, which RemoveTempFiles cleans); without `sync` a power loss may
// leave an empty file, so pass false only for files rebuilt from elsewhere at start (nginx's route
// table is rebuilt from the database). On failure returns Internal and removes the temp file.
Status WriteFileAtomically(const std::string& path, const std::string& contents, int mode = 0644, bool sync = true);

// Reads a whole file into *out. NotFound if it does not exist, Internal on other errors.
Status ReadFile(const std::string& path, std::string* out);

// Creates `path` and missing parents with `mode` (like mkdir -p). OK if it exists as a directory.
Status MakeDirs(const std::string& path, int mode = 0755);

// Removes "<dir>/.*.tmp-*" files left by an interrupted WriteFileAtomically.
void RemoveTempFiles(const std::string& dir);

// Milliseconds since the Unix epoch (wall clock), and a monotonic clock for measuring durations.
long long NowMillis();
long long MonotonicMillis();

}  // namespace bim
