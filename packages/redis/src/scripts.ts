/**
 * The server-side scripts. Each decision is ONE `EVALSHA` of {@link CHARGE_SCRIPT};
 * each settle one of {@link ADJUST_SCRIPT}. They run DESIGN §3's GCRA on integer
 * nanoseconds.
 *
 * Lua numbers in Redis are doubles, exact only up to 2^53, and a `tat` in
 * nanoseconds since the epoch is about 1.7·10^18. So the scripts never turn a
 * time into a Lua number: `tat`, `now` and the client-computed `cost·T` and
 * `now + tau` travel and are stored as decimal strings, and the scripts add,
 * subtract and compare them as little-endian arrays of base-10^7 limbs, which
 * is exact for any size. Only the expiry (a TTL with a margin) uses a double.
 *
 * Key layout per bucket (5 keys, in this order): the bucket hash, the hourly
 * and daily usage hashes, the hourly and daily usage indexes of the entity.
 * Bucket hash fields: `t:<limit>` the tat (decimal ns), `c:<limit>` the
 * consumed counter. Usage hash fields: `<limit>` → tokens.
 */

/** Keys the scripts receive per bucket. */
const KEYS_PER_BUCKET = 5;

const PRELUDE = `
local BASE = 10000000
local function parse(s)
  local n = {}
  local i = #s
  while i >= 1 do
    local j = i - 6
    if j < 1 then j = 1 end
    n[#n + 1] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  while #n > 1 and n[#n] == 0 do n[#n] = nil end
  return n
end
local function format(n)
  local parts = { string.format('%d', n[#n]) }
  for i = #n - 1, 1, -1 do parts[#parts + 1] = string.format('%07d', n[i]) end
  return table.concat(parts)
end
local function cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end
  end
  return 0
end
local function add(a, b)
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
local function sub(a, b)
  local r = {}
  local borrow = 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then r[i] = s + BASE; borrow = 1 else r[i] = s; borrow = 0 end
  end
  while #r > 1 and r[#r] == 0 do r[#r] = nil end
  return r
end

local now = parse(ARGV[1])
local marginMs = tonumber(ARGV[2])
local hourStart = ARGV[3]
local dayStart = ARGV[4]
local hourTtlMs = tonumber(ARGV[5])
local dayTtlMs = tonumber(ARGV[6])
local hourKeepFrom = ARGV[7]
local dayKeepFrom = ARGV[8]
local bucketCount = tonumber(ARGV[9])

-- Expires a bucket when its latest tat has passed, plus the margin; returns its fields.
local function expire(key)
  local fields = redis.call('HGETALL', key)
  local latest = now
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 't:' then
      local tat = parse(fields[i + 1])
      if cmp(tat, latest) > 0 then latest = tat end
    end
  end
  local ttl = math.floor(tonumber(format(sub(latest, now))) / 1000000) + marginMs
  if ttl > 1e15 then ttl = 1e15 end
  if #fields > 0 then redis.call('PEXPIRE', key, string.format('%.0f', ttl)) end
  return fields
end

-- Adds tokens to the usage windows of one bucket (keys at offset k) and indexes new windows.
local function record(k, resource, amounts)
  local windows = {
    { KEYS[k + 2], KEYS[k + 4], hourStart, hourTtlMs, hourKeepFrom },
    { KEYS[k + 3], KEYS[k + 5], dayStart, dayTtlMs, dayKeepFrom },
  }
  for _, w in ipairs(windows) do
    if w[4] > 0 then
      for _, amount in ipairs(amounts) do redis.call('HINCRBY', w[1], amount[1], amount[2]) end
      redis.call('PEXPIRE', w[1], string.format('%.0f', w[4]))
      if redis.call('ZADD', w[2], 'NX', w[3], w[3] .. ':' .. resource) == 1 then
        redis.call('ZREMRANGEBYSCORE', w[2], '-inf', '(' .. w[5])
        redis.call('PEXPIRE', w[2], string.format('%.0f', w[4]))
      end
    end
  end
end
`;

/**
 * Charge all or nothing. Per bucket: resource, limit count, then per limit:
 * name, cost, cost·T (ns), now + tau (ns). Returns `{1 | 0, fields of bucket 1, ...}`:
 * the state after the charge when admitted, else the state that refused it.
 */
export const CHARGE_SCRIPT = `${PRELUDE}
local plans = {}
local admitted = true
local a = 10
for b = 1, bucketCount do
  local k = (b - 1) * ${KEYS_PER_BUCKET}
  local resource = ARGV[a]
  local count = tonumber(ARGV[a + 1])
  a = a + 2
  local limits = {}
  for l = 1, count do
    local name = ARGV[a]
    local stored = redis.call('HGET', KEYS[k + 1], 't:' .. name)
    local start = now
    if stored then
      local tat = parse(stored)
      if cmp(tat, now) > 0 then start = tat end
    end
    local tat = add(start, parse(ARGV[a + 2]))
    if cmp(tat, parse(ARGV[a + 3])) > 0 then admitted = false end
    limits[l] = { name, ARGV[a + 1], tat }
    a = a + 4
  end
  plans[b] = { k, resource, limits }
end
local result = { admitted and 1 or 0 }
for b = 1, bucketCount do
  local k, resource, limits = plans[b][1], plans[b][2], plans[b][3]
  if admitted then
    local amounts = {}
    for _, limit in ipairs(limits) do
      redis.call('HSET', KEYS[k + 1], 't:' .. limit[1], format(limit[3]))
      redis.call('HINCRBY', KEYS[k + 1], 'c:' .. limit[1], limit[2])
      amounts[#amounts + 1] = { limit[1], limit[2] }
    end
    record(k, resource, amounts)
    result[b + 1] = expire(KEYS[k + 1])
  else
    result[b + 1] = redis.call('HGETALL', KEYS[k + 1])
  end
end
return result
`;

/**
 * Never-refused adjustments (gcra.adjustedTat). Per bucket: resource, limit
 * count, then per limit: name, delta, |delta|·T (ns), now + |delta|·T (ns).
 */
export const ADJUST_SCRIPT = `${PRELUDE}
local a = 10
for b = 1, bucketCount do
  local k = (b - 1) * ${KEYS_PER_BUCKET}
  local key = KEYS[k + 1]
  local resource = ARGV[a]
  local count = tonumber(ARGV[a + 1])
  a = a + 2
  local amounts = {}
  for l = 1, count do
    local name, delta = ARGV[a], ARGV[a + 1]
    local deltaNs = parse(ARGV[a + 2])
    local stored = redis.call('HGET', key, 't:' .. name)
    local tat = stored and parse(stored) or nil
    if tonumber(delta) > 0 then
      local start = now
      if tat and cmp(tat, now) > 0 then start = tat end
      redis.call('HSET', key, 't:' .. name, format(add(start, deltaNs)))
    elseif tat and cmp(tat, now) > 0 then
      if cmp(tat, parse(ARGV[a + 3])) > 0 then
        redis.call('HSET', key, 't:' .. name, format(sub(tat, deltaNs)))
      else
        redis.call('HSET', key, 't:' .. name, ARGV[1])
      end
    end
    redis.call('HINCRBY', key, 'c:' .. name, delta)
    amounts[#amounts + 1] = { name, delta }
    a = a + 4
  end
  record(k, resource, amounts)
  expire(key)
end
return 1
`;
