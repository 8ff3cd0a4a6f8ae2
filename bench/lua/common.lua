-- Shared by the bench's wrk scripts (loaded with dofile; wrk has no module path of its own).
-- Each wrk thread gets a number in setup(); threads are kept so done() can add up their counters.
threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

-- Sums a numeric global over every thread (call from done()).
function total(name)
   local n = 0
   for _, t in ipairs(threads) do
      n = n + (t:get(name) or 0)
   end
   return n
end
