// Chooses the artifact repository for a destination; the one place that names the concrete
// repositories, so cli/ only passes the configured string through.
#pragma once

#include <memory>
#include <string>

#include "artifacts/artifact_repository.hpp"
#include "artifacts/s3/s3_config.hpp"

namespace hokusai::artifacts {

// A plain path: a local directory (created if missing). "s3://bucket[/prefix]": an S3 bucket,
// configured from the environment (see S3ConfigFromEnvironment); nothing is sent yet, so call
// Check() to find out whether it answers. Any other "scheme://": INVALID_PARAMETER_VALUE naming
// the scheme. Messages are fit for a start-up error and carry no secret.
Result<std::unique_ptr<ArtifactRepository>> OpenArtifactRepository(
    const std::string& destination, const EnvLookup& env = ProcessEnvironment);

}  // namespace hokusai::artifacts
