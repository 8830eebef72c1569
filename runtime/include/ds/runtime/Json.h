// A small JSON reader and string escaper for checkpoint manifests and safetensors
// headers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ds::rt {

/// A parsed JSON value. Numbers keep their text so 64-bit integers survive exactly.
struct JsonValue {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  std::string text; // String: the decoded string; Number: the literal
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members; // in file order

  /// The member named `key`, or nullptr (also when this is not an object).
  const JsonValue *find(const std::string &key) const;
  /// The number as an integer in [lo, hi]; throws Error (naming `what`) when it is not
  /// one.
  int64_t asInt(const std::string &what, int64_t lo = INT64_MIN,
                int64_t hi = INT64_MAX) const;
  /// The string; throws Error naming `what` when this is not a string.
  const std::string &asString(const std::string &what) const;
};

/// Parses `text` as one JSON value (nesting at most 64 deep). Throws Error with the byte
/// offset of the problem.
JsonValue parseJson(const std::string &text);

/// `s` as a JSON string literal, quotes included.
std::string jsonQuote(const std::string &s);

} // namespace ds::rt
