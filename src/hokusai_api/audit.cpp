#include "hokusai_api/handlers.hpp"
#include "hokusai_api/requests.hpp"
#include "hokusai_api/serialize.hpp"
#include "json/writer.hpp"
#include "mlflow_api/validation.hpp"

namespace hokusai::hokusai_api {

Result<Response> SearchAudit(Context& ctx, const Request& request) {
  HK_TRY(query, ParseAuditQuery(request));
  // Entries are written in batches; the caller should see what it just did.
  ctx.deps.audit.Flush();
  HK_TRY(page, ctx.deps.store.SearchAudit(query));
  const auto& [entries, has_more] = page;
  json::Writer w;
  w.BeginObject().Key("entries").BeginArray();
  for (const store::AuditEntry& entry : entries) WriteAuditEntry(w, entry);
  w.EndArray();
  if (has_more) {
    w.Field("next_page_token",
            mlflow_api::EncodePageToken(query.offset + static_cast<int64_t>(entries.size())));
  }
  w.EndObject();
  return Response::Json(w.Take());
}

}  // namespace hokusai::hokusai_api
