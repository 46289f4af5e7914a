-- wrk script for the gateway workload G2: POST /api/2.0/mlflow/runs/log-metric, one metric per request.
-- Arguments (after `--`): <run_id> <step_base>
-- Every request uses a fresh step (step_base + counter * 64 + thread_id), so every request inserts a
-- row. Headers given to wrk with -H (the harness passes `Authorization: Bearer <key>`) live in
-- wrk.headers; request() builds with wrk.format(nil, nil, nil, body), which sends them.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local run_id, step_base
local counter = 0

function init(args)
  run_id = args[1]
  step_base = tonumber(args[2] or "0")
  wrk.method = "POST"
  wrk.path = "/api/2.0/mlflow/runs/log-metric"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local step = step_base + counter * 64 + (tid or 1)
  local body = string.format(
    '{"run_id":"%s","key":"loss","value":0.25,"timestamp":1700000000000,"step":%d}', run_id, step)
  return wrk.format(nil, nil, nil, body)
end
