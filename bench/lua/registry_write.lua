-- wrk script for W5 writes: model-versions/create, then registered-models/alias (set), repeat.
-- Arguments (after `--`): <model_name> <run_id> <alias>
--
-- Like client_loop.lua this is a per-connection state machine, so the harness runs it with one
-- connection per thread (`wrk -t C -c C`). The new version number comes from the create response;
-- a failed create (a non-2xx that wrk counts) is retried instead of setting an alias to nothing.

local name, run_id, alias
local version = nil

function init(args)
  name, run_id, alias = args[1], args[2], args[3]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if version == nil then
    return wrk.format("POST", "/api/2.0/mlflow/model-versions/create", nil, string.format(
      '{"name":"%s","source":"runs:/%s/model","run_id":"%s"}', name, run_id, run_id))
  end
  return wrk.format("POST", "/api/2.0/mlflow/registered-models/alias", nil, string.format(
    '{"name":"%s","alias":"%s","version":"%s"}', name, alias, version))
end

function response(status, headers, body)
  if version == nil then
    if status == 200 then
      version = body:match('"version"%s*:%s*"(%d+)"')
    end
  else
    version = nil
  end
end
