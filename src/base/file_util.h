// File helpers shared by bimd and bim. Errors name the path and the OS reason.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace bim {

// Writes `contents` to `path` atomically: a temp file "<dir>/.<name>.tmp-<pid>-<random>" in the same
// directory, created with O_EXCL|O_NOFOLLOW (a file or symlink planted under that name is never
// written through), fsync (unless `sync` is false), chmod `mode`, rename over `path`. A crash leaves
// either the old or the new file (and maybe a temp file, which RemoveTempFiles cleans); without `sync`
// a power loss may leave an empty file, so pass false only for files rebuilt from elsewhere at start
// (nginx's route table is rebuilt from the database). On failure returns Internal and removes the
// temp file.
// The default mode is private: bimd's files (nginx config, tokens, history) are its own; pass 0644
// for files meant for people (what `bim init` writes).
Status WriteFileAtomically(const std::string& path, const std::string& contents, int mode = 0600, bool sync = true);

// Reads a whole file into *out. NotFound if it does not exist, Internal on other errors.
Status ReadFile(const std::string& path, std::string* out);

// Creates `path` and missing parents with `mode` (like mkdir -p). OK if it exists as a directory.
Status MakeDirs(const std::string& path, int mode = 0755);

// Removes "<dir>/.*.tmp-*" files left by an interrupted WriteFileAtomically.
void RemoveTempFiles(const std::string& dir);

// Makes `dir` private to its owner, whatever it was before: the directory and every directory
// beneath it 0700, every regular file 0600 (symlinks are left alone and not followed). Internal
// naming the path if one cannot be changed.
Status RestrictTree(const std::string& dir);

// Milliseconds since the Unix epoch (wall clock), and a monotonic clock for measuring durations.
long long NowMillis();
long long MonotonicMillis();

}  // namespace bim
