#include "output_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace dm2::crypto::detail {

namespace {

constexpr std::size_t huge_from = std::size_t{2} << 20;       // one huge page
constexpr std::size_t populate_from = std::size_t{32} << 20;  // glibc's largest mmap threshold

#ifndef MADV_POPULATE_WRITE
constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14; older kernels answer EINVAL
#endif

// The whole pages inside [begin, end): madvise works on pages, and the pages at the edges may
// hold other allocations.
void advise_interior(char* begin, char* end, bool populate) {
  static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) & ~(page - 1);
  std::uintptr_t last = reinterpret_cast<std::uintptr_t>(end) & ~(page - 1);
  if (last <= first) return;
  void* p = reinterpret_cast<void*>(first);
  (void)::madvise(p, last - first, MADV_HUGEPAGE);
  if (populate) (void)::madvise(p, last - first, MADV_POPULATE_WRITE);
}

}  // namespace

void reserve_output(std::string& out, std::size_t size) {
  if (size <= out.capacity()) return;
  out.reserve(size);
  if (size >= huge_from)
    advise_interior(out.data() + out.size(), out.data() + out.capacity(), size >= populate_from);
}

}  // namespace dm2::crypto::detail
