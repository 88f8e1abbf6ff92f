// A DICOMweb request's query string, split and percent-decoded ('+' is a space, as browsers send
// it), for the strict parsers of QIDO-RS and of the image resources. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::node::dicomweb {

// The (name, value) pairs of `target`'s query string, in order, empty pairs skipped. Errors:
// invalid_argument (a bad percent-encoding, or a control character once decoded).
result<std::vector<std::pair<std::string, std::string>>> query_parameters(std::string_view target);

}  // namespace dm2::node::dicomweb
