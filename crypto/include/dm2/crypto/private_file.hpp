// Files that hold secrets (private keys, storage keys) and the public files beside them.
// Writes are atomic (temporary file, fsync, rename, fsync of the directory): a crash leaves
// either the old file or the new one, never half of one. Thread-safe (no shared state).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

// Writes `data` to `path` with mode 0600. Errors: already_exists-like conflict if the file exists
// (keys are never silently replaced), io_error otherwise.
status write_private_file(const std::filesystem::path& path, std::string_view data);

// Reads a secret file. Errors: not_found; insecure_file if group or others have any permission
// on it (the same rule as ssh: a readable key is a leaked key); io_error.
result<std::string> read_private_file(const std::filesystem::path& path);

// Writes a non-secret file (certificate, roster) atomically with mode 0644, replacing any old one.
status write_public_file(const std::filesystem::path& path, std::string_view data);

// Reads any file whole. Errors: not_found, io_error.
result<std::string> read_file(const std::filesystem::path& path);

}  // namespace dm2::crypto
