// Removes a dynamic beat entry together with its tick state. An entry of the
// same name in the app's settings keeps its state when there is no stored one.
// KEYS[1] entries hash, KEYS[2] ticks hash; ARGV[1] name. Returns 1 if it existed.
export const REMOVE_ENTRY = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;
