// libFuzzer target: the sealed-series bundle an owning site streams to a home site
// (node/src/retrieval/series_bundle.hpp, bundle_decoder), on arbitrary bytes. A roster member
// sends it; the home site decodes it as it arrives. Properties checked beyond "no crash, no
// sanitizer report":
// - the same bytes give the same directory, the same bytes per file and the same verdict
//   whether fed whole or in two pieces split anywhere (the split taken from the input);
// - an accepted bundle delivered exactly each listed file's size, no more.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "retrieval/series_bundle.hpp"

namespace {

struct decoded {
  std::vector<dm2::node::bundle_entry> files;
  std::vector<std::string> bytes;  // per listed file
  bool listed = false, fed = false, finished = false;
  bool operator==(const decoded&) const = default;
};

decoded decode(std::string_view input, std::size_t split) {
  decoded out;
  dm2::node::bundle_decoder decoder(
      [&](const std::vector<dm2::node::bundle_entry>& files) -> dm2::status {
        if (out.listed) std::abort();  // the directory is given once
        out.listed = true;
        out.files = files;
        out.bytes.resize(files.size());
        return {};
      },
      [&](std::size_t file, std::string_view bytes) -> dm2::status {
        if (!out.listed || file >= out.bytes.size()) std::abort();
        out.bytes[file] += bytes;
        if (out.bytes[file].size() > out.files[file].size) std::abort();
        return {};
      });
  out.fed = static_cast<bool>(decoder.feed(input.substr(0, split)));
  if (out.fed) out.fed = static_cast<bool>(decoder.feed(input.substr(split)));
  out.finished = out.fed && static_cast<bool>(decoder.finish());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto whole = decode(input, input.size());
  auto split = decode(input, size == 0 ? 0 : data[0] % (size + 1));
  if (!(whole == split)) std::abort();
  if (whole.finished)
    for (std::size_t i = 0; i < whole.files.size(); ++i)
      if (whole.bytes[i].size() != whole.files[i].size) std::abort();
  return 0;
}
