#include "dm2/pacs/pacs_settings.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace dm2::pacs {
namespace {

bool valid_ae_title(const std::string& ae) {
  // PS3.5 AE VR: up to 16 characters of the default repertoire, no backslash or control chars,
  // and not only spaces.
  if (ae.empty() || ae.size() > 16) return false;
  if (std::all_of(ae.begin(), ae.end(), [](char c) { return c == ' '; })) return false;
  return std::all_of(ae.begin(), ae.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f && c != '\\'; });
}

}  // namespace

status validate(const pacs_settings& s) {
  if (s.host.empty()) return fail(errc::invalid_config, "pacs.host is empty");
  if (s.port == 0) return fail(errc::invalid_config, "pacs.port must be 1..65535");
  if (!valid_ae_title(s.called_ae_title))
    return fail(errc::invalid_config, "pacs.called_ae_title must be 1..16 printable characters");
  if (!valid_ae_title(s.calling_ae_title))
    return fail(errc::invalid_config, "pacs.calling_ae_title must be 1..16 printable characters");
  in_addr addr{};
  if (::inet_pton(AF_INET, s.store_address.c_str(), &addr) != 1)
    return fail(errc::invalid_config, "pacs.store_address must be an IPv4 address (a.b.c.d)");
  if (s.timeout.count() < 1 || s.timeout.count() > 3600)
    return fail(errc::invalid_config, "pacs.timeout_s must be 1..3600");
  if (s.associations < 1 || s.associations > 32)
    return fail(errc::invalid_config, "pacs.associations must be 1..32");
  return {};
}

}  // namespace dm2::pacs
