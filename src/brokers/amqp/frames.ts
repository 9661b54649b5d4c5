// The frames of a basic.publish (method, content header, body frames), encoded
// with amqplib's own codec (lib/defs.js, lib/api_args.js: the same bytes its
// Channel.publish writes), so that a whole batch of publishes can go to the
// socket as one buffer: amqplib writes each message as a chunk of its own,
// one socket write apiece. py-amqp likewise builds a message's frames into
// one buffer before its write (amqp/method_framing.py frame_writer).
import type { Options } from "amqplib";
import { requireOptional } from "../../util/optional-package.js";

interface Defs {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
}
interface Args {
  publish(exchange: string, routingKey: string, options: Options.Publish): object;
}

const defs = requireOptional<Defs>("amqplib/lib/defs.js", "amqp:// and rpc:// URLs");
const args = requireOptional<Args>("amqplib/lib/api_args.js", "amqp:// and rpc:// URLs");

const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** Type, channel, size before a frame's payload; the end octet after it. */
const FRAME_OVERHEAD = 8;
const END = Buffer.from([FRAME_END]);

/**
 * Appends the frames of one publish to `out` (parts of a buffer to be
 * concatenated); returns their length. Throws (appending nothing) when amqplib
 * cannot encode it: a routing key over 255 bytes, a header it has no type for.
 */
export function appendPublish(
  out: Buffer[],
  channel: number,
  frameMax: number,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): number {
  const fieldsAndProps = args.publish(exchange, routingKey, options);
  const method = defs.encodeMethod(defs.BasicPublish, channel, fieldsAndProps);
  const header = defs.encodeProperties(defs.BasicProperties, channel, content.length, fieldsAndProps);
  out.push(method, header);
  let length = method.length + header.length;
  const maxBody = frameMax - FRAME_OVERHEAD;
  for (let offset = 0; offset < content.length; offset += maxBody) {
    const slice = content.subarray(offset, Math.min(content.length, offset + maxBody));
    const head = Buffer.allocUnsafe(7);
    head[0] = FRAME_BODY;
    head.writeUInt16BE(channel, 1);
    head.writeUInt32BE(slice.length, 3);
    out.push(head, slice, END);
    length += slice.length + FRAME_OVERHEAD;
  }
  return length;
}
