// Reading and validating what clients send to the Hokusai API. Every input is decoded once
// here, checked against api_limits, and handed on as a typed value; every failure is
// INVALID_PARAMETER_VALUE naming the field. Pure functions of the request (and the time), so
// each rule is unit-tested without a server.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/key_service.hpp"
#include "common/error.hpp"
#include "http/message.hpp"
#include "mlflow_api/request_args.hpp"
#include "store/auth_store.hpp"
#include "store/event_store.hpp"
#include "store/types.hpp"

namespace hokusai::hokusai_api {

// Arguments from the JSON body only: a blank body reads as `{}`, never as the query string (a
// key must not be accepted from a URL). With `allowed` non-empty, a field not in it or a field
// given twice is an error naming it.
Result<mlflow_api::Args> BodyArgs(const http::Request& request,
                                  std::span<const std::string_view> allowed = {});

// POST /api/v1/keys. `now_ms` turns `expires_in_days` into a time and rejects past expiries.
// Scope names, template, environment and CIDRs are checked here; whether the actor may grant
// them is KeyService's decision.
Result<auth::NewKeyRequest> ParseCreateKey(const http::Request& request, int64_t now_ms);

// POST /api/v1/keys/{key_id}/rotate: `overlap_seconds` (default 0, at most 7 days).
Result<int64_t> ParseRotateOverlap(const http::Request& request);

// The `{key_id}` path segment: 1..64 characters of [0-9a-f].
Result<std::string> ParseKeyId(const http::Request& request);

// GET /api/v1/keys: the optional `user_id` filter ("" when absent).
Result<std::string> ParseListUserId(const http::Request& request);

// POST /api/v1/keys/validate.
struct ValidateInput {
  // The key presented, from the credential headers or `api_key` in the body. nullopt when none
  // was presented, the Authorization header was unreadable or the key is absurdly long: the
  // caller answers all of these with the one 401.
  std::optional<std::string> secret;
  std::optional<std::string> service_id;
  std::optional<std::string> client_ip;  // a syntactically valid IPv4 or IPv6 address
};
// A header key and a body key that differ are an error (400), and so is a key in the query
// string.
Result<ValidateInput> ParseValidate(const http::Request& request);

// GET /api/v1/audit: user_id, key_id, outcome, since, until, max_results, page_token.
Result<store::AuditQuery> ParseAuditQuery(const http::Request& request);

// The MLflow auth-app permission endpoints: the resource (`experiment_id` or `name`, as
// `id_field`), `username`, and with `with_permission` a required `permission`.
struct PermissionInput {
  std::string resource_id;
  std::string username;
  std::optional<store::Permission> permission;
};
Result<PermissionInput> ParsePermissionInput(const http::Request& request,
                                             std::string_view id_field, bool with_permission);
// Just the resource, for the route's target finder.
Result<std::string> ParsePermissionResource(const http::Request& request,
                                            std::string_view id_field);

// POST /api/v1/models/register and /baseline (spec §3). Exactly one of `mlflow_run_id` and
// `model_uri`; names, tags and metrics pass the same rules as the MLflow registry API.
enum class RegistrationKind { kRegister, kBaseline };
struct RegistrationInput {
  std::string model_name;  // for kBaseline derived as hokusai_<model_type>_baseline when absent
  std::string model_type;
  std::optional<std::string> mlflow_run_id;
  std::string artifact_path;  // with mlflow_run_id; "model" by default
  std::optional<std::string> model_uri;
  std::optional<std::string> version_label;
  std::vector<std::pair<std::string, double>> metrics;  // sorted by name
  std::vector<store::Tag> tags;                         // metadata and tags, sorted by key
  std::optional<std::string> alias;
  std::optional<std::string> description;
};
Result<RegistrationInput> ParseRegistration(const http::Request& request, RegistrationKind kind);
// A digest of everything the registration asks for, independent of JSON spelling (member order,
// whitespace, number formatting): what `Idempotency-Key` replays are compared by.
std::string RegistrationFingerprint(const RegistrationInput& input, RegistrationKind kind);
// The `Idempotency-Key` header: nullopt when absent; 1..255 visible ASCII characters.
Result<std::optional<std::string>> ParseIdempotencyKey(const http::Request& request);

// GET /api/v1/models: `name`, `model_type`, `max_results` (default 100, at most 1000) and
// `page_token`.
struct ModelListQuery {
  std::optional<std::string> name;
  std::optional<std::string> model_type;
  int64_t max_results = 100;
  int64_t offset = 0;
};
Result<ModelListQuery> ParseModelListQuery(const http::Request& request);

// The `{name}` and `{version}` path segments of /api/v1/models/{name}/{version}.
struct ModelVersionRef {
  std::string name;
  std::string version;
};
Result<ModelVersionRef> ParseModelVersionRef(const http::Request& request);

// POST /api/v1/models/{name}/{version}/transition: `stage`, a word that is a valid alias once
// lower-cased (so not "latest" or v<digits>).
Result<std::string> ParseTransitionStage(const http::Request& request);

// GET /api/v1/events: `model_name`, `state` (pending, delivered, dead), `max_results` (default
// 100, at most 1000) and `page_token` (the next_page_token of the previous page).
Result<store::ListEventsQuery> ParseEventQuery(const http::Request& request);
// The `{event_id}` path segment: a UUID in its 36-character text form.
Result<std::string> ParseEventId(const http::Request& request);
// POST /api/v1/events/{event_id}/replay: the optional `endpoint` to replay to (default: every
// configured endpoint).
Result<std::optional<std::string>> ParseReplayEndpoint(const http::Request& request);

// Whether `text` is a plain IPv4 or IPv6 address (no zone, no port, no prefix length).
bool ValidIpAddress(std::string_view text);

}  // namespace hokusai::hokusai_api
