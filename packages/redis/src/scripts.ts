/**
 * The server-side scripts. A decision is ONE `EVALSHA` of {@link CHARGE_SCRIPT},
 * a settle one of {@link ADJUST_SCRIPT}; each call carries one request or a
 * batch of concurrent requests on the same buckets (coalescing), which the
 * script decides one after another, in order, against the live state, so each
 * gets exactly the answer it would have got alone. They run DESIGN §3's GCRA
 * on integer nanoseconds.
 *
 * Lua numbers in Redis are doubles, exact only up to 2^53, and a `tat` in
 * nanoseconds since the epoch is about 1.7·10^18. So times travel and are
 * stored as decimal strings, and the scripts compute on them in one of two
 * exact ways, per limit:
 *
 * - the usual case: a time is held as its offset from `now` (a stored `tat`
 *   within about 46 days of `now`; `cost·T` and `tau` under 10^15 ns), where
 *   every sum stays below 2^53 and doubles are exact; a decimal string is read
 *   as two parts of at most 10 digits to get there;
 * - otherwise (long periods, deep debt, huge costs): little-endian arrays of
 *   base-10^7 limbs, exact at any size.
 *
 * Only the expiry (a TTL with a margin) is rounded.
 *
 * Calls per bucket and script call, whatever the batch size: `HGETALL` (every
 * tat: the decisions, the expiry and the answers), one `HSET` of the new
 * tats, one `PEXPIRE`, and per usage window one `HINCRBY` per limit (plus,
 * when the window may be new, its expiry and its index entry).
 *
 * Key layout per bucket (5 keys, in this order): the bucket hash, the hourly
 * and daily usage hashes, the hourly and daily usage indexes of the entity.
 * Bucket hash fields: `t:<limit>` → the tat (decimal ns). Usage hash fields:
 * `<limit>` → tokens.
 *
 * ARGV of both scripts: now (ns), expiry margin (ms), the hour and day window
 * starts (ms), their TTLs (ms), the starts before which index entries are
 * dropped, the bucket count, the request count; then the resource of each
 * bucket; then per request and bucket: a limit count and, per limit, its
 * name and 2 numbers (see each script).
 */

/** Keys the scripts receive per bucket. */
const KEYS_PER_BUCKET = 5;

const PRELUDE = `
local call, sub, format, floor = redis.call, string.sub, string.format, math.floor
local nowText = ARGV[1]
local marginMs = tonumber(ARGV[2])
local hourStart = ARGV[3]
local dayStart = ARGV[4]
local hourTtlMs = tonumber(ARGV[5])
local dayTtlMs = tonumber(ARGV[6])
local hourKeepFrom = ARGV[7]
local dayKeepFrom = ARGV[8]
local bucketCount = tonumber(ARGV[9])
local requestCount = tonumber(ARGV[10])

-- Offsets from now in doubles. An offset read from a tat is within +-NEAR_NS; costs and taus
-- are under 1e15; so a sum of one offset and one cost stays under 2^53 (9.007e15), and any
-- result beyond NEAR_NS is turned into limbs before it is used again.
local SPLIT = 1000000000
local NEAR = 4000000
local NEAR_NS = NEAR * SPLIT + SPLIT
local nowHi, nowLo
if #nowText >= 10 and #nowText <= 19 then
  nowHi = tonumber(sub(nowText, 1, -10))
  nowLo = tonumber(sub(nowText, -9))
end

-- tat - now, exact, or nil when it would not be.
local function offset(text)
  if nowHi == nil or #text < 10 or #text > 19 then return nil end
  local high = tonumber(sub(text, 1, -10)) - nowHi
  if high > NEAR or high < -NEAR then return nil end
  return high * SPLIT + (tonumber(sub(text, -9)) - nowLo)
end

-- A decimal under 10^15 as an exact double, or nil.
local function small(text)
  if nowHi ~= nil and #text <= 15 then return tonumber(text) end
  return nil
end

-- now + offset as decimal text (offset >= 0, exact).
local function fromOffset(value)
  local low = nowLo + value
  local carry = floor(low / SPLIT)
  low = low - carry * SPLIT
  if low < 0 then carry = carry - 1; low = low + SPLIT
  elseif low >= SPLIT then carry = carry + 1; low = low - SPLIT end
  return format('%d%09d', nowHi + carry, low)
end

-- Limbs, exact at any size: created on first use, since most calls never need them.
local limbs
local function big()
  if limbs then return limbs end
  local BASE = 10000000
  local L = {}
  function L.parse(s)
    local n = {}
    local i = #s
    while i >= 1 do
      local j = i - 6
      if j < 1 then j = 1 end
      n[#n + 1] = tonumber(sub(s, j, i))
      i = j - 1
    end
    while #n > 1 and n[#n] == 0 do n[#n] = nil end
    return n
  end
  function L.format(n)
    local parts = { format('%d', n[#n]) }
    for i = #n - 1, 1, -1 do parts[#parts + 1] = format('%07d', n[i]) end
    return table.concat(parts)
  end
  function L.cmp(a, b)
    if #a ~= #b then return #a < #b and -1 or 1 end
    for i = #a, 1, -1 do
      if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
    end
    return 0
  end
  function L.add(a, b)
    local r = {}
    local carry = 0
    for i = 1, math.max(#a, #b) do
      local s = (a[i] or 0) + (b[i] or 0) + carry
      if s >= BASE then r[i] = s - BASE; carry = 1 else r[i] = s; carry = 0 end
    end
    if carry > 0 then r[#r + 1] = carry end
    return r
  end
  -- a - b for a >= b
  function L.sub(a, b)
    local r = {}
    local borrow = 0
    for i = 1, #a do
      local s = a[i] - (b[i] or 0) - borrow
      if s < 0 then r[i] = s + BASE; borrow = 1 else r[i] = s; borrow = 0 end
    end
    while #r > 1 and r[#r] == 0 do r[#r] = nil end
    return r
  end
  L.now = L.parse(nowText)
  -- max(time, now) as limbs, for a time that is nil, an offset or limbs.
  function L.start(time)
    if time == nil then return L.now end
    if type(time) == 'number' then
      if time <= 0 then return L.now end
      return L.parse(fromOffset(time))
    end
    if L.cmp(time, L.now) > 0 then return time end
    return L.now
  end
  limbs = L
  return L
end

-- A time is nil (never used), an offset (number) or limbs (table).
local function text(time)
  if type(time) == 'number' then return fromOffset(time) end
  return big().format(time)
end
local function read(tatText)
  return offset(tatText) or big().parse(tatText)
end
-- Whole ms from now until a time, 0 if it has passed.
local function msUntil(time)
  if type(time) ~= 'number' then
    local L = big()
    if L.cmp(time, L.now) <= 0 then return 0 end
    time = tonumber(L.format(L.sub(time, L.now)))
  end
  if time <= 0 then return 0 end
  return floor(time / 1000000)
end
-- An offset too far from now for the next sum to stay exact becomes limbs.
local function settle(time)
  if type(time) == 'number' and time > NEAR_NS then return big().parse(fromOffset(time)) end
  return time
end

-- Every bucket of the call, read once: its fields and the times the requests change.
local buckets = {}
local a = 11
for b = 1, bucketCount do
  local k = (b - 1) * ${KEYS_PER_BUCKET}
  local fields = call('HGETALL', KEYS[k + 1])
  local texts, order = {}, {}
  for i = 1, #fields, 2 do
    texts[fields[i]] = fields[i + 1]
    order[#order + 1] = fields[i]
  end
  buckets[b] = { key = KEYS[k + 1], k = k, resource = ARGV[a], fields = fields, texts = texts,
    order = order, times = {}, changed = {}, amounts = {}, names = {} }
  a = a + 1
end

-- The current time of a field of a bucket.
local function timeOf(bucket, field)
  local time = bucket.times[field]
  if time == nil and bucket.texts[field] ~= nil then
    time = read(bucket.texts[field])
    bucket.times[field] = time
  end
  return time
end

-- Sets a field to a new time.
local function change(bucket, field, time)
  if bucket.texts[field] == nil and not bucket.changed[field] then bucket.order[#bucket.order + 1] = field end
  bucket.times[field] = time
  bucket.changed[field] = true
end

-- Adds tokens to a limit's usage in this call; partial sums stay exact doubles.
local function count(bucket, name, tokens)
  local sums = bucket.amounts[name]
  if sums == nil then
    sums = { 0 }
    bucket.amounts[name] = sums
    bucket.names[#bucket.names + 1] = name
  end
  local sum = sums[#sums] + tokens
  if sum > 9e15 or sum < -9e15 then sums[#sums + 1] = tokens else sums[#sums] = sum end
end

-- Writes a bucket's changed tats, expires it once its latest tat has passed (plus the
-- margin), and adds its usage to the hourly and daily windows. A window's expiry and index
-- entry are set when it may be new: when an increment returned the amount itself.
local function persist(bucket)
  if #bucket.names == 0 then return end
  local writes = {}
  local latest = 0
  for _, field in ipairs(bucket.order) do
    if sub(field, 1, 2) == 't:' then
      local time = timeOf(bucket, field)
      if bucket.changed[field] then
        writes[#writes + 1] = field
        writes[#writes + 1] = text(time)
      end
      local ms = msUntil(time)
      if ms > latest then latest = ms end
    end
  end
  if #writes > 0 then
    call('HSET', bucket.key, unpack(writes))
    local ttl = latest + marginMs
    if ttl > 1e15 then ttl = 1e15 end
    call('PEXPIRE', bucket.key, format('%.0f', ttl))
  end
  for w = 0, 1 do
    local windowTtl = w == 0 and hourTtlMs or dayTtlMs
    if windowTtl > 0 then
      local usage = KEYS[bucket.k + 2 + w]
      local fresh = false
      for _, name in ipairs(bucket.names) do
        for _, sum in ipairs(bucket.amounts[name]) do
          if sum ~= 0 and call('HINCRBY', usage, name, format('%.0f', sum)) == sum then
            fresh = true
          end
        end
      end
      if fresh then
        local ttlText = format('%.0f', windowTtl)
        local start = w == 0 and hourStart or dayStart
        local index = KEYS[bucket.k + 4 + w]
        call('PEXPIRE', usage, ttlText)
        if call('ZADD', index, 'NX', start, start .. ':' .. bucket.resource) == 1 then
          call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (w == 0 and hourKeepFrom or dayKeepFrom))
          call('PEXPIRE', index, ttlText)
        end
      end
    end
  end
end
`;

/**
 * Charges all or nothing, per request. Per limit: name, cost, then `cost·T`
 * and `tau` in ns. Returns `{flags, fields of bucket 1, ...}`: one `1`
 * (admitted) or `0` per request, and every bucket's fields as they were
 * before the first request, from which the client replays each answer's
 * state (`max(tat, now) + cost·T` for each admitted request, in order) with
 * the same integers, instead of receiving one state per request.
 */
export const CHARGE_SCRIPT = `${PRELUDE}
-- max(time, now) + cost·T, and whether it fits tau.
local function charged(time, costText, costNsText, tauText)
  local cost, tau = small(costNsText), small(tauText)
  if cost and tau and type(time) ~= 'table' then
    local start = time or 0
    if start < 0 then start = 0 end
    local tat = start + cost
    return tat <= tau, tat
  end
  local L = big()
  local tat = L.add(L.start(time), L.parse(costNsText))
  return L.cmp(tat, L.add(L.now, L.parse(tauText))) <= 0, tat
end

local flags = {}
for r = 1, requestCount do
  local plans = {}
  local fits = true
  for b = 1, bucketCount do
    local bucket = buckets[b]
    local limitCount = tonumber(ARGV[a])
    a = a + 1
    local plan = {}
    for l = 1, limitCount do
      local field = 't:' .. ARGV[a]
      local ok, tat = charged(timeOf(bucket, field), ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
      if not ok then fits = false end
      plan[l] = { field, ARGV[a], tonumber(ARGV[a + 1]), tat }
      a = a + 4
    end
    plans[b] = plan
  end
  if fits then
    for b = 1, bucketCount do
      for _, charge in ipairs(plans[b]) do
        change(buckets[b], charge[1], charge[4])
        count(buckets[b], charge[2], charge[3])
      end
    end
  end
  flags[r] = fits and '1' or '0'
end
for b = 1, bucketCount do persist(buckets[b]) end
local reply = { table.concat(flags) }
for b = 1, bucketCount do reply[b + 1] = buckets[b].fields end
return reply
`;

/**
 * Never-refused adjustments (gcra.adjustedTat), per request in order. Per
 * limit: name, delta (positive is debt, negative a refund), then
 * `|delta|·T` in ns.
 */
export const ADJUST_SCRIPT = `${PRELUDE}
-- The adjusted time, or nil when it does not change.
local function adjusted(time, debt, deltaNsText)
  local delta = small(deltaNsText)
  if delta and type(time) ~= 'table' then
    if debt then
      local start = time or 0
      if start < 0 then start = 0 end
      return settle(start + delta)
    end
    if time == nil or time <= 0 then return nil end
    if time > delta then return time - delta end
    return 0
  end
  local L = big()
  if debt then return L.add(L.start(time), L.parse(deltaNsText)) end
  local start = L.start(time)
  if L.cmp(start, L.now) <= 0 then return nil end
  local refunded = L.parse(deltaNsText)
  if L.cmp(start, L.add(L.now, refunded)) > 0 then return L.sub(start, refunded) end
  return L.now
end

for r = 1, requestCount do
  for b = 1, bucketCount do
    local bucket = buckets[b]
    local limitCount = tonumber(ARGV[a])
    a = a + 1
    for l = 1, limitCount do
      local field = 't:' .. ARGV[a]
      local delta = tonumber(ARGV[a + 1])
      local time = adjusted(timeOf(bucket, field), delta > 0, ARGV[a + 2])
      if time ~= nil then change(bucket, field, time) end
      count(bucket, ARGV[a], delta)
      a = a + 3
    end
  end
end
for b = 1, bucketCount do persist(buckets[b]) end
return 1
`;

/**
 * The reads of `loadConfig` on a single node, as one command. KEYS: the
 * entity records, then the limit-set hashes; ARGV[1]: how many KEYS are
 * entity records; then the field of each hash. Returns one value per key,
 * nil where there is none.
 */
export const READ_SCRIPT = `
local entities = tonumber(ARGV[1])
local values = {}
for i = 1, #KEYS do
  if i <= entities then
    values[i] = redis.call('GET', KEYS[i])
  else
    values[i] = redis.call('HGET', KEYS[i], ARGV[1 + i - entities])
  end
end
return values
`;
