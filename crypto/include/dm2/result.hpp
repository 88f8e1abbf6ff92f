// dm2::result<T>: a value or a dm2::error, returned across every module boundary instead of
// throwing. A minimal stand-in for C++23's std::expected.
#pragma once

#include <optional>
#include <utility>
#include <variant>

#include "dm2/error.hpp"

namespace dm2 {

// Builds the error side: `return fail(errc::not_found, "no such record");`
inline error fail(errc code, std::string message) { return error{code, std::move(message)}; }

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : state_(std::move(value)) {}
  result(error e) : state_(std::move(e)) {}

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  // Precondition: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const error& err() const& { return std::get<1>(state_); }
  error&& err() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, error> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : error_(std::move(e)) {}

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const error& err() const& { return *error_; }
  error&& err() && { return std::move(*error_); }

 private:
  std::optional<error> error_;
};

using status = result<void>;

}  // namespace dm2
