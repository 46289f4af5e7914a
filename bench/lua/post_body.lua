-- wrk script sending one fixed request with a JSON body read from a file (W3 runs/search).
-- Arguments (after `--`): <method> <path> <body file>
-- A static request (no request() function): wrk builds it once per thread, with the -H headers.

function init(args)
  local f = assert(io.open(args[3], "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = args[1]
  wrk.path = args[2]
  wrk.headers["Content-Type"] = "application/json"
end
