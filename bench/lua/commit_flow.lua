-- The payout flow under load: POST /v0.1.4/payout/{user} (initiate), then PUT
-- /v0.1.4/payout/{user}/{token from that answer} (commit). Each thread keeps a queue of initiated
-- payout tokens; a connection that is free commits the oldest one if any, else initiates a new one,
-- so initiates and commits alternate. done() prints the counts: pairs/s = commits / duration.
-- wrk args: USER_TOKEN NONCE.
dofile(string.gsub(debug.getinfo(1, "S").source:sub(2), "[^/]*$", "") .. "common.lua")

local user, nonce = "usr_x", "x"
local queue, first, last = {}, 1, 0
local n = 0
commits, initiates, failures = 0, 0, 0

function init(args)
   user = args[1] or user
   nonce = args[2] or nonce
   wrk.headers["Content-Type"] = "application/json"
end

local function initiate_body(id)
   return '{"client_transfer_id":"' .. id .. '","source_currency_code":"USD",'
      .. '"destination_currency_code":"BTC",'
      .. '"source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574",'
      .. '"destination_token":"dst_d2138fd0-00be-45a8-985f-4f5bde500962",'
      .. '"source_amount":10,"metadata":{"group_id":541}}'
end

function request()
   if first <= last then
      local token = queue[first]
      queue[first] = nil
      first = first + 1
      return wrk.format("PUT", "/v0.1.4/payout/" .. user .. "/" .. token, nil, nil)
   end
   n = n + 1
   return wrk.format("POST", "/v0.1.4/payout/" .. user, nil,
      initiate_body("b" .. nonce .. "t" .. tid .. "n" .. n))
end

function response(status, headers, body)
   if status ~= 200 then
      failures = failures + 1
   elseif body:find('"status":"PENDING"', 1, true) then
      local token = body:match('"payout_token":"(payout_[^"]+)"')
      if token then
         last = last + 1
         queue[last] = token
         initiates = initiates + 1
      else
         failures = failures + 1
      end
   elseif body:find('"status":"success"', 1, true) and not body:find('"errors"', 1, true) then
      commits = commits + 1
   else
      failures = failures + 1
   end
end

function done(summary, latency, requests)
   io.write(string.format("BENCH commits=%d initiates=%d failures=%d duration_us=%d\n",
      total("commits"), total("initiates"), total("failures"), summary.duration))
end
