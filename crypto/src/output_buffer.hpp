// Private helper: room for large outputs written in full by the caller. Not part of the public API.
#pragma once

#include <cstddef>
#include <string>

namespace dm2::crypto::detail {

// Makes `out` able to hold `size` bytes without reallocating. A new allocation of 2 MiB or more
// is advised to use transparent huge pages, and one of 32 MiB or more is mapped in one go
// (MADV_POPULATE_WRITE): glibc serves allocations above 32 MiB with a fresh mmap on every call,
// and on a virtual machine the 4 KiB page faults and TLB misses of such a buffer cost more than
// encrypting it (a fresh 64 MiB seal ran at 6% of AES-GCM's speed; smaller buffers are reused
// from the heap after the first call). Advice only: without kernel support it does nothing.
void reserve_output(std::string& out, std::size_t size);

}  // namespace dm2::crypto::detail
