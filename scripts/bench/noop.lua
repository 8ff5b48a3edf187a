-- wrk script: POST /bench/noop with the same 1 KiB body size as the webhook run (no work is done).
local body = '{"id":"evt_noop","pad":"' .. string.rep("x", 1024 - 26) .. '"}'
function request()
  return wrk.format("POST", "/bench/noop", { ["Content-Type"] = "application/json" }, body)
end
