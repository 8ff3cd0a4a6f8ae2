-- Stores an exact number of PENDING payouts: each thread sends QUOTA initiates (the same body as
-- commit_flow.lua), then only GET /health (stores nothing) until the answers of all its initiates
-- are in; then it writes MARKER<tid> and the driver stops wrk (SIGINT). Every initiate answered
-- 200 with status PENDING is a stored payout; failures are counted and reported.
-- wrk calls request() once on the first thread to verify the script before the run and throws that
-- request away, so each thread's first request() is a /health filler and is never counted.
-- wrk args: USER_TOKEN QUOTA_PER_THREAD MARKER_PREFIX NONCE.
dofile(string.gsub(debug.getinfo(1, "S").source:sub(2), "[^/]*$", "") .. "common.lua")

local user, quota, marker, nonce = "usr_x", 0, "/tmp/fill-", "x"
local health
sent, stored, failures = 0, 0, 0
local flagged = false
local primed = false

function init(args)
   user = args[1]
   quota = tonumber(args[2])
   marker = args[3]
   nonce = args[4] or nonce
   wrk.headers["Content-Type"] = "application/json"
   health = wrk.format("GET", "/health")
end

function request()
   if not primed then
      primed = true
      return health
   end
   if sent < quota then
      sent = sent + 1
      return wrk.format("POST", "/v0.1.4/payout/" .. user, nil,
         '{"client_transfer_id":"f' .. nonce .. "t" .. tid .. "n" .. sent .. '",'
         .. '"source_currency_code":"USD","destination_currency_code":"BTC",'
         .. '"source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574",'
         .. '"destination_token":"dst_d2138fd0-00be-45a8-985f-4f5bde500962",'
         .. '"source_amount":10,"metadata":{"group_id":541}}')
   end
   return health
end

function response(status, headers, body)
   if body:find('"status":"ok"', 1, true) then
      return -- a /health filler
   end
   if status == 200 and body:find('"status":"PENDING"', 1, true) then
      stored = stored + 1
   else
      failures = failures + 1
   end
   if not flagged and stored + failures >= quota then
      flagged = true
      local f = io.open(marker .. tid, "w")
      if f then
         f:write(stored, " ", failures, "\n")
         f:close()
      end
   end
end

function done(summary, latency, requests)
   io.write(string.format("BENCH stored=%d failures=%d sent=%d duration_us=%d\n",
      total("stored"), total("failures"), total("sent"), summary.duration))
end
