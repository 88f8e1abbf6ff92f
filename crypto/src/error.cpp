#include "dm2/error.hpp"

namespace dm2 {

std::string_view describe(errc code) noexcept {
  switch (code) {
#define DM2_TEXT_CASE(name, status, text) \
  case errc::name:                        \
    return text;
    DM2_ERROR_CODES(DM2_TEXT_CASE)
#undef DM2_TEXT_CASE
  }
  return "unknown error";
}

std::string_view name_of(errc code) noexcept {
  switch (code) {
#define DM2_NAME_CASE(name, status, text) \
  case errc::name:                        \
    return #name;
    DM2_ERROR_CODES(DM2_NAME_CASE)
#undef DM2_NAME_CASE
  }
  return "unknown";
}

int http_status(errc code) noexcept {
  switch (code) {
#define DM2_STATUS_CASE(name, status, text) \
  case errc::name:                          \
    return status;
    DM2_ERROR_CODES(DM2_STATUS_CASE)
#undef DM2_STATUS_CASE
  }
  return 500;
}

std::string error::to_string() const {
  std::string out(describe(code));
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

}  // namespace dm2
