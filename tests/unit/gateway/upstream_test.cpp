// Gateway mode: the upstream URL, and the one mapping from the authorized canonical path to
// the forwarded one (security principle 2).
#include "gateway/upstream.hpp"

#include <gtest/gtest.h>

namespace hokusai::gateway {
namespace {

UpstreamConfig Config(std::string_view url, PathStyle style = PathStyle::kApi) {
  auto config = ParseUpstreamUrl(url);
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  config->path_style = style;
  return *config;
}

TEST(UpstreamTest, ParsesHostPortAndBasePath) {
  UpstreamConfig plain = Config("http://mlflow:5000");
  EXPECT_EQ(plain.host, "mlflow");
  EXPECT_EQ(plain.port, 5000);
  EXPECT_EQ(plain.base_path, "");
  EXPECT_EQ(plain.Display(), "http://mlflow:5000");
  UpstreamConfig based = Config("http://10.1.2.3:8080/mlflow/");
  EXPECT_EQ(based.base_path, "/mlflow");
  EXPECT_EQ(based.Authority(), "10.1.2.3:8080");
  EXPECT_EQ(Config("http://[::1]:5000").Authority(), "[::1]:5000");
  EXPECT_EQ(Config("http://mlflow").port, 80);
}

TEST(UpstreamTest, RefusesWhatItCannotForwardSafely) {
  for (std::string_view url :
       {"https://mlflow:5000", "ftp://mlflow", "http://user:pw@mlflow:5000", "http://mlflow:5000/?a=1",
        "http://mlflow:5000/#x", "http://mlflow:5000/a/../b", "http://mlflow:5000//a",
        "http://mlflow:5000/a%2Fb", "http://mlflow:5000/a b", "mlflow:5000", ""}) {
    EXPECT_FALSE(ParseUpstreamUrl(url).has_value()) << url;
  }
}

TEST(UpstreamTest, PathStyles) {
  EXPECT_EQ(*ParsePathStyle("api"), PathStyle::kApi);
  EXPECT_EQ(*ParsePathStyle("ajax-api"), PathStyle::kAjaxApi);
  EXPECT_FALSE(ParsePathStyle("AJAX").has_value());
}

TEST(UpstreamTest, TheCanonicalPathIsWhatIsForwarded) {
  UpstreamConfig api = Config("http://mlflow:5000");
  EXPECT_EQ(UpstreamTarget(api, "/api/2.0/mlflow/runs/get", {{"run_id", "abc"}}),
            "/api/2.0/mlflow/runs/get?run_id=abc");
  UpstreamConfig ajax = Config("http://mlflow:5000", PathStyle::kAjaxApi);
  EXPECT_EQ(UpstreamTarget(ajax, "/api/2.0/mlflow/runs/get", {}), "/ajax-api/2.0/mlflow/runs/get");
  EXPECT_EQ(UpstreamTarget(ajax, "/get-artifact", {{"path", "a"}}), "/get-artifact?path=a");
  UpstreamConfig based = Config("http://mlflow:5000/mlflow", PathStyle::kAjaxApi);
  EXPECT_EQ(UpstreamTarget(based, "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/x", {}),
            "/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/x");
  EXPECT_EQ(UpstreamTarget(based, "/", {}), "/mlflow/");
  EXPECT_EQ(UpstreamTarget(api, "/", {}), "/");
}

TEST(UpstreamTest, DecodedPathBytesAreEncodedAgain) {
  UpstreamConfig api = Config("http://mlflow:5000");
  // The canonical path is decoded; what could end or redirect the target is encoded again.
  EXPECT_EQ(UpstreamTarget(api, "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a b?c#d%e",
                           {}),
            "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/a%20b%3Fc%23d%25e");
  EXPECT_EQ(UpstreamTarget(api, "/a/\xc3\xa9\r\n", {}), "/a/%C3%A9%0D%0A");
}

TEST(UpstreamTest, QueryIsReEncodedFromDecodedParameters) {
  EXPECT_EQ(EncodeQuery({}), "");
  EXPECT_EQ(EncodeQuery({{"filter", "name = 'a&b'"}, {"run_id", "x"}, {"run_id", "y"}}),
            "filter=name%20%3D%20%27a%26b%27&run_id=x&run_id=y");
  EXPECT_EQ(EncodeQuery({{"a", "1\r\nHost: evil"}}), "a=1%0D%0AHost%3A%20evil");
}

TEST(UpstreamTest, UpstreamCredentials) {
  UpstreamConfig config = Config("http://mlflow:5000");
  EXPECT_FALSE(config.Authorization().has_value());
  config.token = "t0k";
  EXPECT_EQ(config.Authorization(), "Bearer t0k");
  config.token.clear();
  config.username = "svc";
  config.password = "pw";
  EXPECT_EQ(config.Authorization(), "Basic c3ZjOnB3");
  // Never in what messages name.
  EXPECT_EQ(config.Display().find("pw"), std::string::npos);
}

}  // namespace
}  // namespace hokusai::gateway
