// The artifact routes: the mlflow-artifacts proxy service (upload, download, list, delete),
// run artifact listing, logged-model artifact listing and download, the UI's get-artifact
// routes, and server-info. Every path is checked to lie inside an artifact root this server
// issued (a run's or a logged model's), resolved from the store.
#pragma once

#include "artifacts/artifact_repository.hpp"
#include "common/error.hpp"
#include "http/router.hpp"
#include "mlflow_api/targets.hpp"
#include "store/registry_store.hpp"
#include "store/tracking_store.hpp"

namespace hokusai::mlflow_api {

// All three must outlive the table.
Result<void> RegisterArtifactRoutes(http::RouteTable& table, store::TrackingStore& tracking,
                                    store::RegistryStore& registry,
                                    artifacts::ArtifactRepository& repository);

// Gateway mode: the same routes (uploads included) with the same declarations, their target
// finders asking `locator`, each forwarded to the upstream. `locator` must outlive the table.
Result<void> RegisterArtifactRoutes(http::RouteTable& table, ResourceLocator& locator,
                                    const http::ForwardFor& forward_for);

}  // namespace hokusai::mlflow_api
