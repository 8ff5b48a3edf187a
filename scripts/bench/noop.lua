-- wrk script: POST /bench/noop with the same 1 KiB body size as the webhook run (no work is done).
local body = '{"id":"evt_noop","pad":"' .. string.rep("x", 1024 - 26) .. '"}'
local req = nil
function request()   -- built once, like the webhook requests, so wrk only copies bytes
  if req == nil then req = wrk.format("POST", "/bench/noop", { ["Content-Type"] = "application/json" }, body) end
  return req
end
