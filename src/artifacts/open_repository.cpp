#include "artifacts/open_repository.hpp"

#include <fmt/format.h>

#include "artifacts/local/local_artifact_repository.hpp"
#include "artifacts/s3/s3_artifact_repository.hpp"

namespace hokusai::artifacts {

Result<std::unique_ptr<ArtifactRepository>> OpenArtifactRepository(const std::string& destination,
                                                                   const EnvLookup& env) {
  std::size_t scheme_end = destination.find("://");
  if (scheme_end == std::string::npos) {
    HK_TRY(local, LocalArtifactRepository::Open(destination));
    return std::unique_ptr<ArtifactRepository>(std::move(local));
  }
  std::string scheme = destination.substr(0, scheme_end);
  if (scheme != "s3") {
    return InvalidParameter(
        fmt::format("Unsupported artifact destination scheme '{}://': use a local directory or "
                    "s3://bucket/prefix",
                    scheme));
  }
  HK_TRY(location, ParseS3Uri(destination));
  HK_TRY(config, S3ConfigFromEnvironment(std::move(location), env));
  HK_TRY(s3, S3ArtifactRepository::Open(std::move(config)));
  return std::unique_ptr<ArtifactRepository>(std::move(s3));
}

}  // namespace hokusai::artifacts
