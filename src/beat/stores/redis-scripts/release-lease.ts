// Gives beat's lease up, only if the caller still holds it with this token.
// KEYS[1] lease hash; ARGV[1] holder, ARGV[2] token. Returns 1 if released.
export const RELEASE_LEASE = `
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
