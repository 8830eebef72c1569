// A small JSON reader and string escaper for checkpoint manifests and safetensors
// headers.
#include "ds/runtime/Json.h"
#include "ds/runtime/Error.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace ds::rt {
namespace {

class JsonParser {
public:
  explicit JsonParser(const std::string &s) : s_(s) {}

  JsonValue parseDocument() {
    JsonValue v = parseValue(0);
    skipSpace();
    if (pos_ != s_.size())
      error("trailing characters");
    return v;
  }

private:
  const std::string &s_;
  size_t pos_ = 0;

  [[noreturn]] void error(const char *what) { fail("JSON: ", what, " at byte ", pos_); }

  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0)
      return false;
    pos_ += n;
    return true;
  }

  JsonValue parseValue(int depth) {
    if (depth > 64)
      error("nesting deeper than 64");
    skipSpace();
    if (pos_ >= s_.size())
      error("unexpected end");
    JsonValue v;
    char c = s_[pos_];
    if (c == '{') {
      v.kind = JsonValue::Object;
      ++pos_;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      while (true) {
        skipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '"')
          error("expected a member name");
        std::string key = parseString();
        skipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':')
          error("expected ':'");
        ++pos_;
        for (const auto &m : v.members)
          if (m.first == key)
            error("duplicate member name");
        v.members.emplace_back(std::move(key), parseValue(depth + 1));
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') {
          ++pos_;
          return v;
        }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Array;
      ++pos_;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      while (true) {
        v.items.push_back(parseValue(depth + 1));
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') {
          ++pos_;
          return v;
        }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = JsonValue::String;
      v.text = parseString();
      return v;
    }
    if (consume("true")) {
      v.kind = JsonValue::Bool;
      v.boolean = true;
      return v;
    }
    if (consume("false")) {
      v.kind = JsonValue::Bool;
      return v;
    }
    if (consume("null"))
      return v;
    size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-')
      ++pos_;
    while (pos_ < s_.size() &&
           (std::isdigit((unsigned char)s_[pos_]) || s_[pos_] == '.' || s_[pos_] == 'e' ||
            s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
      ++pos_;
    if (pos_ == start || !std::isdigit((unsigned char)s_[pos_ - 1]))
      error("unexpected character");
    v.kind = JsonValue::Number;
    v.text = s_.substr(start, pos_ - start);
    return v;
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }

  uint32_t parseHex4() {
    if (pos_ + 4 > s_.size())
      error("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= uint32_t(h - 'A' + 10);
      else
        error("bad \\u escape");
    }
    return cp;
  }

  std::string parseString() {
    ++pos_; // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size())
        error("unterminated string");
      char c = s_[pos_++];
      if (c == '"')
        return out;
      if ((unsigned char)c < 0x20)
        error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size())
        error("unterminated string");
      char e = s_[pos_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = parseHex4();
        if (cp >= 0xd800 && cp < 0xdc00 && s_.compare(pos_, 2, "\\u") == 0) {
          pos_ += 2;
          uint32_t lo = parseHex4();
          if (lo < 0xdc00 || lo >= 0xe000)
            error("bad surrogate pair");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        error("bad escape");
      }
    }
  }
};

} // namespace

const JsonValue *JsonValue::find(const std::string &key) const {
  for (const auto &m : members)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

int64_t JsonValue::asInt(const std::string &what, int64_t lo, int64_t hi) const {
  if (kind != Number)
    fail(what, " is not a number");
  char *end = nullptr;
  errno = 0;
  long long x = std::strtoll(text.c_str(), &end, 10);
  if (errno || !end || *end || x < lo || x > hi)
    fail(what, " is not an integer in [", lo, ", ", hi, "]: ", text);
  return x;
}

const std::string &JsonValue::asString(const std::string &what) const {
  if (kind != String)
    fail(what, " is not a string");
  return text;
}

JsonValue parseJson(const std::string &text) { return JsonParser(text).parseDocument(); }

std::string jsonQuote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

} // namespace ds::rt
