#include "artifacts/s3/s3_xml.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
// UTF-16 surrogates are not characters and have no UTF-8 form.
constexpr uint32_t kFirstSurrogate = 0xD800;
constexpr uint32_t kLastSurrogate = 0xDFFF;

bool IsTagNameEnd(char c) {
  return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The predefined entities.
constexpr std::pair<std::string_view, char> kNamedEntities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};

// Decodes the entity body between '&' and ';' ("amp", "#38", "#x26") into `out`.
bool DecodeEntity(std::string_view entity, std::string& out) {
  for (const auto& [name, c] : kNamedEntities) {
    if (entity == name) {
      out.push_back(c);
      return true;
    }
  }
  if (entity.size() < 2 || entity[0] != '#') return false;
  bool hex = entity[1] == 'x' || entity[1] == 'X';
  std::string_view digits = entity.substr(hex ? 2 : 1);
  uint32_t cp = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || cp == 0 ||
      cp > kMaxCodePoint || (cp >= kFirstSurrogate && cp <= kLastSurrogate)) {
    return false;
  }
  AppendUtf8(out, cp);
  return true;
}

// The name of the document's first element, skipping the declaration and comments.
std::string_view RootName(std::string_view xml) {
  std::size_t pos = 0;
  while ((pos = xml.find('<', pos)) != std::string_view::npos) {
    if (pos + 1 < xml.size() && xml[pos + 1] != '?' && xml[pos + 1] != '!') {
      std::size_t end = pos + 1;
      while (end < xml.size() && !IsTagNameEnd(xml[end])) ++end;
      return xml.substr(pos + 1, end - pos - 1);
    }
    ++pos;
  }
  return {};
}

S3ErrorDocument ErrorFrom(std::string_view element) {
  return S3ErrorDocument{XmlText(element, "Code").value_or(""),
                         XmlText(element, "Message").value_or(""),
                         XmlText(element, "Key").value_or("")};
}

Error Malformed(std::string_view what) {
  return Error{ErrorCode::kInternalError, fmt::format("Malformed S3 answer: {}", what)};
}

}  // namespace

std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view name) {
  std::vector<std::string_view> out;
  const std::string open = fmt::format("<{}", name);
  const std::string close = fmt::format("</{}>", name);
  std::size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    std::size_t after = pos + open.size();
    if (after >= xml.size()) break;
    if (!IsTagNameEnd(xml[after])) {  // a longer name such as <KeyCount> for <Key>
      pos = after;
      continue;
    }
    std::size_t tag_end = xml.find('>', after);
    if (tag_end == std::string_view::npos) break;
    if (xml[tag_end - 1] == '/') {
      out.emplace_back();
      pos = tag_end + 1;
      continue;
    }
    std::size_t end = xml.find(close, tag_end + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(tag_end + 1, end - tag_end - 1));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string> XmlText(std::string_view xml, std::string_view name) {
  std::vector<std::string_view> found = XmlElements(xml, name);
  if (found.empty()) return std::nullopt;
  return XmlDecode(found.front());
}

std::string XmlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t amp = text.find('&', pos);
    if (amp == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, amp - pos));
    std::size_t semi = text.find(';', amp);
    if (semi == std::string_view::npos ||
        !DecodeEntity(text.substr(amp + 1, semi - amp - 1), out)) {
      out.push_back('&');
      pos = amp + 1;
      continue;
    }
    pos = semi + 1;
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto entity = std::find_if(std::begin(kNamedEntities), std::end(kNamedEntities),
                               [c](const auto& named) { return named.second == c; });
    if (entity == std::end(kNamedEntities)) {
      out.push_back(c);
    } else {
      out += fmt::format("&{};", entity->first);
    }
  }
  return out;
}

Result<S3ListPage> ParseListObjectsV2(std::string_view xml) {
  if (RootName(xml) != "ListBucketResult") return tl::unexpected(Malformed("not a listing"));
  S3ListPage page;
  for (std::string_view contents : XmlElements(xml, "Contents")) {
    std::optional<std::string> key = XmlText(contents, "Key");
    std::optional<int64_t> size = ParseInt64(XmlText(contents, "Size").value_or(""));
    if (!key || !size || *size < 0) return tl::unexpected(Malformed("listing entry"));
    page.objects.push_back(S3ListedObject{std::move(*key), *size});
  }
  for (std::string_view common : XmlElements(xml, "CommonPrefixes")) {
    std::optional<std::string> prefix = XmlText(common, "Prefix");
    if (!prefix) return tl::unexpected(Malformed("listing prefix"));
    page.common_prefixes.push_back(std::move(*prefix));
  }
  page.truncated = XmlText(xml, "IsTruncated").value_or("false") == "true";
  if (page.truncated) {
    page.next_continuation_token = XmlText(xml, "NextContinuationToken").value_or("");
    if (page.next_continuation_token.empty()) {
      return tl::unexpected(Malformed("truncated listing without a continuation token"));
    }
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  std::optional<std::string> upload_id = XmlText(xml, "UploadId");
  if (RootName(xml) != "InitiateMultipartUploadResult" || !upload_id || upload_id->empty()) {
    return tl::unexpected(Malformed("no upload id"));
  }
  return std::move(*upload_id);
}

std::optional<S3ErrorDocument> ParseS3Error(std::string_view xml) {
  if (RootName(xml) != "Error") return std::nullopt;
  std::vector<std::string_view> found = XmlElements(xml, "Error");
  if (found.empty()) return std::nullopt;
  return ErrorFrom(found.front());
}

std::vector<S3ErrorDocument> ParseDeleteErrors(std::string_view xml) {
  std::vector<S3ErrorDocument> out;
  for (std::string_view element : XmlElements(xml, "Error")) out.push_back(ErrorFrom(element));
  return out;
}

std::string CompleteMultipartUploadXml(const std::vector<std::string>& part_etags) {
  std::string out = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < part_etags.size(); ++i) {
    out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                       XmlEscape(part_etags[i]));
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  std::string out = "<Delete><Quiet>true</Quiet>";
  for (const std::string& key : keys) {
    out += fmt::format("<Object><Key>{}</Key></Object>", XmlEscape(key));
  }
  out += "</Delete>";
  return out;
}

}  // namespace hokusai::artifacts
