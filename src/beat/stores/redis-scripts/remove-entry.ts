// Removes a dynamic beat entry together with its tick state.
// KEYS[1] entries hash, KEYS[2] ticks hash; ARGV[1] name. Returns 1 if it existed.
export const REMOVE_ENTRY = `
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
`;
