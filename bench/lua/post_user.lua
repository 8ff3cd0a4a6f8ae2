-- POST /v0.1.4/user with the guide's sample user, each request with its own e-mail (the sandbox
-- refuses a second user with the same e-mail in a tenant): run nonce (wrk arg 1) + thread + counter.
dofile(string.gsub(debug.getinfo(1, "S").source:sub(2), "[^/]*$", "") .. "common.lua")

local counter = 0
local nonce = "x"
local head = '{"internal_user_id":"4324-rOzk","address1":"2000 main st","address2":"apt D",'
   .. '"city":"Santa Monica","state_province":"CA","postal_code":"90405","country":"USA",'
   .. '"first_name":"John","middle_name":"","last_name":"Doe","email":"'
local tail = '","language":"en","mobile_number":"16502000226","business_name":"ABC Company",'
   .. '"date_of_birth":"1975-03-24","metadata":{"group_id":541}}'

function init(args)
   nonce = args[1] or "x"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   counter = counter + 1
   local email = "b" .. nonce .. "t" .. tid .. "n" .. counter .. "@example.com"
   return wrk.format("POST", "/v0.1.4/user", nil, head .. email .. tail)
end
