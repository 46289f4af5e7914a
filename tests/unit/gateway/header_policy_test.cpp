// The gateway's one header policy (security principle 12), both directions.
#include "gateway/header_policy.hpp"

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace hokusai::gateway {
namespace {

std::optional<std::string> Get(const http::HeaderList& headers, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : headers) {
    if (key == name) {
      EXPECT_FALSE(found.has_value()) << "duplicate " << name;
      found = value;
    }
  }
  return found;
}

ForwardContext Context() {
  ForwardContext context;
  context.user_id = "acme";
  context.key_id = "0123456789abcdef0123456789abcdef";
  context.peer = "10.0.0.7";
  return context;
}

TEST(HeaderPolicyTest, ClientCredentialsAreNeverForwarded) {
  http::HeaderList client = {{"authorization", "Bearer hk_live_secret"},
                             {"x-api-key", "hk_live_secret"},
                             {"cookie", "session=abc"},
                             {"proxy-authorization", "Basic eDp5"},
                             {"content-type", "application/json"}};
  auto out = UpstreamRequestHeaders(client, Context());
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(Get(*out, "authorization"));
  EXPECT_FALSE(Get(*out, "x-api-key"));
  EXPECT_FALSE(Get(*out, "cookie"));
  EXPECT_FALSE(Get(*out, "proxy-authorization"));
  EXPECT_EQ(Get(*out, "content-type"), "application/json");
}

TEST(HeaderPolicyTest, UpstreamCredentialsAreInjected) {
  ForwardContext context = Context();
  context.upstream_authorization = "Bearer upstream-token";
  auto out = UpstreamRequestHeaders({{"authorization", "Bearer client"}}, context);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(Get(*out, "authorization"), "Bearer upstream-token");
}

TEST(HeaderPolicyTest, IdentityHeadersComeFromThePrincipalOnly) {
  http::HeaderList client = {{"x-hokusai-user-id", "admin"},
                             {"x-hokusai-api-key-id", "forged"},
                             {"x-hokusai-anything", "x"}};
  auto out = UpstreamRequestHeaders(client, Context());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(Get(*out, "x-hokusai-user-id"), "acme");
  EXPECT_EQ(Get(*out, "x-hokusai-api-key-id"), "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(Get(*out, "x-hokusai-anything"));
}

TEST(HeaderPolicyTest, PublicRoutesCarryNoIdentity) {
  ForwardContext context = Context();
  context.user_id.clear();
  context.key_id.clear();
  auto out = UpstreamRequestHeaders({{"x-hokusai-user-id", "admin"}}, context);
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(Get(*out, "x-hokusai-user-id"));
  EXPECT_FALSE(Get(*out, "x-hokusai-api-key-id"));
}

TEST(HeaderPolicyTest, HopByHopAndConnectionListedHeadersAreRemoved) {
  http::HeaderList client = {{"connection", "keep-alive, X-Secret-Hop"},
                             {"keep-alive", "timeout=5"},
                             {"te", "trailers"},
                             {"trailer", "x"},
                             {"transfer-encoding", "chunked"},
                             {"upgrade", "websocket"},
                             {"proxy-connection", "keep-alive"},
                             {"x-secret-hop", "1"},
                             {"host", "client.example"},
                             {"content-length", "5"},
                             {"expect", "100-continue"},
                             {"accept-encoding", "gzip"},
                             {"user-agent", "mlflow-python-client/3.10.1"}};
  auto out = UpstreamRequestHeaders(client, Context());
  ASSERT_TRUE(out.has_value());
  for (std::string_view name :
       {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-connection", "x-secret-hop", "host", "content-length", "expect",
        "accept-encoding"}) {
    EXPECT_FALSE(Get(*out, name)) << name;
  }
  EXPECT_EQ(Get(*out, "user-agent"), "mlflow-python-client/3.10.1");
}

TEST(HeaderPolicyTest, ForwardedHeadersFromAnUntrustedPeerAreReplaced) {
  http::HeaderList client = {{"x-forwarded-for", "1.2.3.4"},
                             {"x-forwarded-proto", "https"},
                             {"x-forwarded-host", "evil.example"},
                             {"forwarded", "for=1.2.3.4"},
                             {"x-real-ip", "1.2.3.4"},
                             {"host", "registry.example:5000"}};
  auto out = UpstreamRequestHeaders(client, Context());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(Get(*out, "x-forwarded-for"), "10.0.0.7");
  EXPECT_EQ(Get(*out, "x-forwarded-proto"), "http");
  EXPECT_EQ(Get(*out, "x-forwarded-host"), "registry.example:5000");
  EXPECT_FALSE(Get(*out, "forwarded"));
  EXPECT_FALSE(Get(*out, "x-real-ip"));
}

TEST(HeaderPolicyTest, ForwardedHeadersFromATrustedProxyAreKeptAndExtended) {
  ForwardContext context = Context();
  context.peer_is_trusted_proxy = true;
  http::HeaderList client = {{"x-forwarded-for", "1.2.3.4, 10.0.0.2"},
                             {"x-forwarded-proto", "https"},
                             {"x-forwarded-host", "registry.example"},
                             {"host", "internal:5000"}};
  auto out = UpstreamRequestHeaders(client, context);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(Get(*out, "x-forwarded-for"), "1.2.3.4, 10.0.0.2, 10.0.0.7");
  EXPECT_EQ(Get(*out, "x-forwarded-proto"), "https");
  EXPECT_EQ(Get(*out, "x-forwarded-host"), "registry.example");
}

TEST(HeaderPolicyTest, ImplausibleForwardedValuesFromATrustedProxyAreDropped) {
  ForwardContext context = Context();
  context.peer_is_trusted_proxy = true;
  http::HeaderList client = {{"x-forwarded-for", "<script>"},
                             {"x-forwarded-proto", "gopher"},
                             {"x-forwarded-host", "a b"}};
  auto out = UpstreamRequestHeaders(client, context);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(Get(*out, "x-forwarded-for"), "10.0.0.7");
  EXPECT_EQ(Get(*out, "x-forwarded-proto"), "http");
  EXPECT_FALSE(Get(*out, "x-forwarded-host"));
}

TEST(HeaderPolicyTest, NoCrOrLfCanEnterAForwardedHeader) {
  auto from_client = UpstreamRequestHeaders({{"x-note", "a\r\nX-Hokusai-User-Id: admin"}},
                                            Context());
  EXPECT_FALSE(from_client.has_value());
  auto bad_name = UpstreamRequestHeaders({{"x-note\r\nx-evil", "a"}}, Context());
  EXPECT_FALSE(bad_name.has_value());

  ForwardContext context = Context();
  context.user_id = "acme\r\nX-Hokusai-User-Id: admin";
  auto from_identity = UpstreamRequestHeaders({}, context);
  ASSERT_FALSE(from_identity.has_value());
  EXPECT_EQ(from_identity.error().code, ErrorCode::kInvalidParameterValue);

  context = Context();
  context.upstream_authorization = "Bearer x\nInjected: 1";
  EXPECT_FALSE(UpstreamRequestHeaders({}, context).has_value());
}

TEST(HeaderPolicyTest, SafeHeaderCharacters) {
  EXPECT_TRUE(SafeHeaderValue("a\tb c"));
  EXPECT_FALSE(SafeHeaderValue("a\rb"));
  EXPECT_FALSE(SafeHeaderValue("a\nb"));
  EXPECT_FALSE(SafeHeaderValue(std::string("a\0b", 3)));
  EXPECT_FALSE(SafeHeaderValue("a\x7f"));
  EXPECT_TRUE(SafeHeaderName("X-Request-Id"));
  EXPECT_FALSE(SafeHeaderName("X Request"));
  EXPECT_FALSE(SafeHeaderName(""));
  EXPECT_FALSE(SafeHeaderName("a:b"));
}

TEST(HeaderPolicyTest, AnswerHeadersDropHopByHopCookiesAndUpstreamChallenges) {
  http::HeaderList upstream = {{"Connection", "keep-alive, X-Hop"},
                               {"X-Hop", "1"},
                               {"Keep-Alive", "timeout=5"},
                               {"Transfer-Encoding", "chunked"},
                               {"Content-Length", "12"},
                               {"Set-Cookie", "session=upstream"},
                               {"WWW-Authenticate", "Basic realm=\"mlflow\""},
                               {"Proxy-Authenticate", "Basic"},
                               {"X-Content-Type-Options", "nosniff"},
                               {"Content-Disposition", "attachment; filename=\"a.bin\""}};
  http::HeaderList out = ClientResponseHeaders(upstream, "http://mlflow:5000", "");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, "X-Content-Type-Options");
  EXPECT_EQ(out[1].first, "Content-Disposition");
}

TEST(HeaderPolicyTest, RedirectsToTheUpstreamAreMappedOntoThisServer) {
  auto location = [](std::string value, std::string_view base = "/mlflow") {
    http::HeaderList out =
        ClientResponseHeaders({{"Location", std::move(value)}}, "http://mlflow:5000", base);
    return out.empty() ? std::string("(dropped)") : out[0].second;
  };
  EXPECT_EQ(location("http://mlflow:5000/mlflow/static-files/x.js"), "/static-files/x.js");
  EXPECT_EQ(location("HTTP://MLFLOW:5000/mlflow"), "/");
  EXPECT_EQ(location("/mlflow/#/experiments"), "/#/experiments");
  EXPECT_EQ(location("/mlflow/"), "/");
  EXPECT_EQ(location("/mlflow?x=1"), "/?x=1");
  EXPECT_EQ(location("/mlflowish/a"), "/mlflowish/a");
  EXPECT_EQ(location("http://mlflow:5000/a", ""), "/a");
  EXPECT_EQ(location("http://mlflow:5000.evil.example/a", ""), "(dropped)");
  EXPECT_EQ(location("https://elsewhere.example/a"), "https://elsewhere.example/a");
}

}  // namespace
}  // namespace hokusai::gateway
