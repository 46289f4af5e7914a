#include "json/writer.hpp"

#include <charconv>
#include <cmath>

namespace hokusai::json {

namespace {

// Length of the valid UTF-8 sequence starting at `i`, or 0 when it is not valid.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  std::size_t n = lead >= 0xf0 && lead <= 0xf4 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 && lead < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  if (lead == 0xe0 && byte(i + 1) < 0xa0) return 0;  // overlong
  if (lead == 0xed && byte(i + 1) >= 0xa0) return 0;  // surrogate
  if (lead == 0xf0 && byte(i + 1) < 0x90) return 0;  // overlong
  if (lead == 0xf4 && byte(i + 1) >= 0x90) return 0;  // above U+10FFFF
  return n;
}

// Plain printable ASCII is copied in runs; only these bytes need a closer look.
bool NeedsCare(unsigned char u) { return u < 0x20 || u == '"' || u == '\\' || u >= 0x80; }

}  // namespace

void AppendQuoted(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t plain = 0;  // start of the run of bytes not yet copied
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto u = static_cast<unsigned char>(value[i]);
    if (!NeedsCare(u)) continue;
    out.append(value.data() + plain, i - plain);
    if (u >= 0x80) {
      // Invalid UTF-8 (possible from a query string) becomes U+FFFD so the body stays valid.
      std::size_t n = Utf8SequenceLength(value, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(value.substr(i, n));
        i += n - 1;
      }
    } else {
      switch (u) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
      }
    }
    plain = i + 1;
  }
  out.append(value.data() + plain, value.size() - plain);
  out.push_back('"');
}

std::string FormatDouble(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  std::string text(buf, end);
  return text;
}

void Writer::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
  }
}

Writer& Writer::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  first_.push_back(true);
  return *this;
}

Writer& Writer::EndObject() {
  out_.push_back('}');
  first_.pop_back();
  return *this;
}

Writer& Writer::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  first_.push_back(true);
  return *this;
}

Writer& Writer::EndArray() {
  out_.push_back(']');
  first_.pop_back();
  return *this;
}

Writer& Writer::Key(std::string_view key) {
  BeforeValue();
  AppendQuoted(out_, key);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

Writer& Writer::RawMembers(std::string_view members) {
  if (members.empty()) return *this;
  BeforeValue();
  out_.append(members);
  return *this;
}

Writer& Writer::RawValue(std::string_view value) {
  BeforeValue();
  out_.append(value);
  return *this;
}

Writer& Writer::String(std::string_view value) {
  BeforeValue();
  AppendQuoted(out_, value);
  return *this;
}

Writer& Writer::Int(int64_t value) {
  BeforeValue();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, end);
  return *this;
}

Writer& Writer::Double(double value) {
  BeforeValue();
  if (std::isnan(value)) {
    out_ += "\"NaN\"";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    out_.append(buf, end);
  }
  return *this;
}

Writer& Writer::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

Writer& Writer::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

}  // namespace hokusai::json
