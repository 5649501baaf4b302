/**
 * The scripts of the administrative calls, each on one key (so each runs on
 * the node of that key's slot, on a Cluster too). Sent with `EVAL`: these
 * calls are rare, and Redis caches a script it has run.
 */

/**
 * Deletes the `t:<limit>` fields (tats) of one bucket hash, and only those:
 * usage lives in hashes of its own. Returns how many it deleted; Redis
 * deletes a hash left empty.
 */
export const RESET_BUCKET_SCRIPT = `
local removed = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 't:' then
    removed = removed + redis.call('HDEL', KEYS[1], field)
  end
end
return removed
`;

/**
 * Replaces an entity record only if it still holds what the caller read:
 * ARGV[1] the JSON read, ARGV[2] the JSON to store. Returns 1 when replaced,
 * 0 when there is no record, -1 when it changed since it was read.
 */
export const REPLACE_ENTITY_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;
