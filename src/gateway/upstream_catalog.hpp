// Gateway mode: the registration API (spec §3) on the upstream MLflow server. Runs, logged
// models and the registry are read and written through the upstream's REST API; what stays
// local is what this server owns — ownership (MANAGE for the creator of a model), the
// idempotency records and the registration events.
//
// A registration is several upstream requests (model, version, alias). MLflow has no
// transaction across them, so the catalog undoes what it did when a later step fails (the
// version and, when it created it, the model are deleted again) and only then answers with the
// error: a failed registration leaves nothing behind unless the upstream also fails the undo,
// which is logged. Idempotency keys are reserved locally before the first upstream write, so two
// concurrent requests with one key cannot both register.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/upstream.hpp"
#include "gateway/upstream_locator.hpp"
#include "hokusai_api/model_catalog.hpp"
#include "store/auth_store.hpp"
#include "store/event_store.hpp"
#include "store/registry_store.hpp"

namespace hokusai::gateway {

// The model version at `pointer` ("/model_version") of an upstream answer.
// TEMPORARILY_UNAVAILABLE naming the upstream when it is missing or malformed.
Result<store::ModelVersion> ParseUpstreamModelVersion(const UpstreamConfig& config,
                                                      std::string_view body,
                                                      std::string_view pointer);

// All references must outlive the catalog. `local` keeps only idempotency records here.
std::unique_ptr<hokusai_api::ModelCatalog> MakeUpstreamCatalog(UpstreamClient& client,
                                                               UpstreamLocator& locator,
                                                               store::AuthStore& auth,
                                                               store::RegistryStore& local,
                                                               store::EventStore& events);

}  // namespace hokusai::gateway
