-- wrk script for W1: POST /api/2.0/mlflow/runs/log-batch with 1000 metrics per request.
-- Arguments (after `--`): <run_id> <step_base> <metrics_per_request>
-- Every request uses a fresh step (step_base + counter * 64 + thread_id), so
-- no (key, step, timestamp, value) tuple repeats and every request really inserts rows.
-- Headers given to wrk with -H (the harness passes `Authorization: Bearer <key>`) live in
-- wrk.headers; request() must keep building requests with wrk.format(nil, nil, nil, body),
-- which sends wrk.headers, or hokusai will answer 401.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local template, step_base, stride
local counter = 0

function init(args)
  local run_id = args[1]
  step_base = tonumber(args[2] or "0")
  local n = tonumber(args[3] or "1000")
  stride = 64 -- larger than any thread count we use; keeps steps disjoint across threads
  local parts = {}
  for i = 0, n - 1 do
    parts[#parts + 1] = string.format(
      '{"key":"m%d","value":%d.25,"timestamp":1700000000000,"step":@S@}', i, i)
  end
  template = '{"run_id":"' .. run_id .. '","metrics":[' .. table.concat(parts, ",")
             .. '],"params":[],"tags":[]}'
  wrk.method = "POST"
  wrk.path = "/api/2.0/mlflow/runs/log-batch"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local step = tostring(step_base + counter * stride + (tid or 1))
  local body = template:gsub("@S@", step)
  return wrk.format(nil, nil, nil, body)
end
