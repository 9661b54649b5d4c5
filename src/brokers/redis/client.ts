// The broker's command connection, with the Lua scripts of its transitions
// (src/redis/scripts/) defined as commands.
import type { Redis } from "ioredis";
import { defineScript } from "../../redis/scripts.js";

/** The fetch script's reply, as Buffers: [next ETA (ms) or '', [list index, envelope, lease tag or '', …]]. */
export type FetchReply = [Buffer, (Buffer | number)[]];

export interface BrokerRedis extends Redis {
  celeriacFetchBuffer(numKeys: number, ...args: (string | number)[]): Promise<FetchReply>;
  celeriacRestore(numKeys: number, ...args: (string | number)[]): Promise<number>;
  celeriacTakeToken(key: string, perSecond: number): Promise<number>;
  celeriacFanoutPublish(slotKey: string, channel: string, message: string): Promise<number>;
  celeriacReleaseMutex(key: string, token: string): Promise<number>;
  celeriacReleaseScheduled(schedule: string, list: string, member: string, envelope: string): Promise<number>;
  celeriacPublishDirect(bindings: string, lifetimes: string, routingKey: string, envelope: string, sep: string, keyPrefix: string): Promise<number>;
}

export function defineBrokerScripts(client: Redis): BrokerRedis {
  defineScript(client, "celeriacFetch", "fetch");
  defineScript(client, "celeriacRestore", "restore");
  defineScript(client, "celeriacTakeToken", "take-token", 1);
  defineScript(client, "celeriacFanoutPublish", "fanout-publish", 1);
  defineScript(client, "celeriacReleaseMutex", "release-mutex", 1);
  defineScript(client, "celeriacPublishDirect", "publish-direct", 2);
  defineScript(client, "celeriacReleaseScheduled", "release-scheduled", 2);
  return client as BrokerRedis;
}
