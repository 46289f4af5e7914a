-- wrk script for W7: GET <path>, each request authenticated with the next of many API keys.
-- Arguments (after `--`): <key file, one key per line> <path>
-- The key file lives in the scratch directory (mode 0600, removed on exit); keys are never printed.
-- Each thread starts at a different offset so threads do not move through the keys in lockstep.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local keys = {}
local idx = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  assert(#keys > 0, "no keys in " .. args[1])
  wrk.path = args[2]
  idx = ((tid or 1) * 7919) % #keys
end

function request()
  idx = idx % #keys + 1
  wrk.headers["Authorization"] = "Bearer " .. keys[idx]
  return wrk.format()
end
