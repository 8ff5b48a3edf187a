-- wrk script: POST /webhooks/stripe with pre-signed, distinct 1 KiB Stripe events.
-- The events file (make-signed-events.py) has the shared body suffix on its first line, then
-- "<event id> <Stripe-Signature>" per event. Each wrk thread sends its own share of the events
-- (line i goes to thread i mod threads), in order, so no event is sent twice while it lasts.
local events_file = os.getenv("BENCH_EVENTS") or "events.txt"
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "2")
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local requests, n, i = {}, 0, 0

-- Requests are built here, before the clock starts, so that during the run wrk only copies
-- bytes: the load generator's own CPU stays out of the server's way on a 2-core machine.
function init(args)
  local f = assert(io.open(events_file, "r"))
  local suffix = f:read("*l")
  local line_no = 0
  for line in f:lines() do
    if line_no % threads_total == tid then
      local id, sig = line:match("^(%S+) (.+)$")
      n = n + 1
      requests[n] = wrk.format("POST", "/webhooks/stripe",
        { ["Content-Type"] = "application/json", ["Stripe-Signature"] = sig }, '{"id":"' .. id .. suffix)
    end
    line_no = line_no + 1
  end
  f:close()
end

function request()
  i = i + 1
  if i > n then i = 1 end   -- ran out: repeats answer 202 as duplicates (the script reports them)
  return requests[i]
end
