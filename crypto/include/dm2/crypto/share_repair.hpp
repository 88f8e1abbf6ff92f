// Repairing a lost key share without the key's owner and without anyone learning the secret
// (docs/crypto.md, "Share repair"): an enrolment protocol from Laing & Stinson, "A survey and
// refinement of repairable threshold schemes".
//
// t helpers hold shares s_i = f(x_i) of one split (shares.hpp). To give index j a share:
//   1. each helper i computes v_i = λ_i(j) · s_i bytewise in GF(2^8), λ_i(j) the Lagrange
//      coefficient of x_i at j over the helpers' indexes, and splits v_i into t random XOR
//      pieces (repair_contribution); piece k goes to helper k;
//   2. each helper k XORs the t pieces it got (its own included) into one sum (add_pieces) and
//      sends that sum to the new holder;
//   3. the new holder XORs the t sums into f(j) = Σ v_i and adds the header
//      (assemble_repaired_share): the same bytes a split would have given index j.
// Any t-1 pieces of one v_i, and any t-1 sums, are uniformly random: a helper learns nothing
// about another helper's share, the new holder learns only f(j).
//
// The field is libgfshare's: GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1 (0x11d), so repaired
// shares combine with split_secret's. Pieces and sums are raw bytes, the size of a share body
// (secret + 16-byte check). Thread-safe (pure functions; pieces use OpenSSL's CSPRNG).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::crypto {

// a · b in libgfshare's GF(2^8).
std::uint8_t gf256_mul(std::uint8_t a, std::uint8_t b);
// a⁻¹ in libgfshare's GF(2^8); 0 for a = 0.
std::uint8_t gf256_inverse(std::uint8_t a);

// λ_i(j) for helper index `helper` among `helper_indexes`: Π_{m≠i} (j - x_m) / (x_i - x_m).
// Errors: invalid_argument (an index 0, a duplicate, `helper` not among them, j among them).
result<std::uint8_t> lagrange_at(const std::vector<std::uint8_t>& helper_indexes,
                                 std::uint8_t helper, std::uint8_t target_index);

// Step 1 at the helper holding `share` (an encoded share, shares.hpp): t pieces, piece k for the
// helper helper_indexes[k]; their XOR is λ_i(j) · body(share).
// Errors: malformed_input (the share does not parse), invalid_argument (not exactly t helper
// indexes, an index 0 or repeated, the share's index not among them, j = 0 or among them).
result<std::vector<std::string>> repair_contribution(std::string_view share,
                                                     const std::vector<std::uint8_t>& helper_indexes,
                                                     std::uint8_t target_index);

// Step 2: the XOR of the pieces (or, at the new holder, of the sums).
// Errors: invalid_argument (none given, empty or different sizes, over a share body's size).
result<std::string> add_pieces(const std::vector<std::string>& pieces);

// Step 3: the encoded share of index j from the t helpers' sums.
// Errors: invalid_argument (not exactly t sums, t < 2, j = 0, sizes as add_pieces, a body too
// short to hold the check).
result<std::string> assemble_repaired_share(const std::vector<std::string>& sums,
                                            unsigned threshold, std::uint8_t target_index);

}  // namespace dm2::crypto
