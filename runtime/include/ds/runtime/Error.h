// The runtime's error type: every failure is a one-line message, prefixed by the caller.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ds::rt {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string &message) : std::runtime_error(message) {}
};

namespace detail {
inline void append(std::ostringstream &) {}
template <typename T, typename... Rest>
void append(std::ostringstream &os, const T &first, const Rest &...rest) {
  os << first;
  append(os, rest...);
}
} // namespace detail

/// Builds a message from the arguments (streamed) and throws it as an Error.
template <typename... Args> [[noreturn]] void fail(const Args &...args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(os.str());
}

} // namespace ds::rt
