-- wrk script for W2, the typical client loop: runs/create, N x runs/log-metric, runs/update, repeat.
-- Arguments (after `--`): <experiment_id> <metrics_per_run (default 10)>
--
-- A per-connection state machine. wrk keeps one Lua state per *thread*, not per connection, and gives
-- response() no connection handle, so the harness runs this script with ONE CONNECTION PER THREAD
-- (`wrk -t C -c C`): then every thread's requests and responses strictly alternate and the state below
-- belongs to exactly one connection. The run id comes from the runs/create response (both servers'
-- JSON, pretty-printed or not, matches the pattern). A failed runs/create (counted by wrk as non-2xx)
-- is retried, so a broken server cannot make the script send log-metric with an empty run id.
-- Headers given with -H (the key) live in wrk.headers; wrk.format(method, path, nil, body) sends them.

local exp_id, per_run
local state = 0     -- 0: create next; 1..per_run: log-metric number `state`; per_run+1: update
local run_id = nil

function init(args)
  exp_id = args[1]
  per_run = tonumber(args[2] or "10")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if state == 0 or run_id == nil then
    state = 0
    return wrk.format("POST", "/api/2.0/mlflow/runs/create", nil, string.format(
      '{"experiment_id":"%s","start_time":1700000000000,"run_name":"w2-loop"}', exp_id))
  elseif state <= per_run then
    return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric", nil, string.format(
      '{"run_id":"%s","key":"loss","value":%d.5,"timestamp":1700000000000,"step":%d}',
      run_id, state, state))
  else
    return wrk.format("POST", "/api/2.0/mlflow/runs/update", nil, string.format(
      '{"run_id":"%s","status":"FINISHED","end_time":1700000001000}', run_id))
  end
end

function response(status, headers, body)
  if state == 0 then
    if status == 200 then
      run_id = body:match('"run_id"%s*:%s*"(%x+)"')
    end
    if run_id then state = 1 end
  elseif state <= per_run then
    state = state + 1
  else
    state = 0
    run_id = nil
  end
end
