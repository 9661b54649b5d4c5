// Where a decompressor writes, bounded: a small compressed body can inflate
// to gigabytes (a compression bomb), so writing past the limit stops the
// decoder there, before the worker's memory is spent.
import { MessageTooLarge } from "../../errors.js";

export class BoundedOutput {
  private chunks: Buffer[] = [];
  private current: Buffer;
  private pos = 0;
  private total = 0;
  /** The size of the next buffer: doubling, so a large output takes few. */
  private nextSize: number;

  constructor(
    private readonly format: string,
    private readonly limit: number | null,
  ) {
    this.nextSize = 64 * 1024;
    this.current = Buffer.alloc(0);
  }

  /** One byte (seek-bzip's output stream interface). */
  writeByte(byte: number): void {
    if (this.pos === this.current.length) this.grow(1);
    this.current[this.pos++] = byte;
    this.total++;
  }

  /** A decoded chunk (fzstd's ondata). */
  write(data: Uint8Array): void {
    this.check(data.length);
    this.flush();
    this.chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.total += data.length;
  }

  /** Throws MessageTooLarge when `more` bytes would go past the limit. */
  check(more: number): void {
    if (this.limit !== null && this.total + more > this.limit) {
      throw new MessageTooLarge(`${this.format} body inflates to more than the message size limit (${this.limit} bytes)`);
    }
  }

  result(): Buffer {
    this.flush();
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total);
  }

  private grow(more: number): void {
    this.check(more);
    this.flush();
    const size = this.limit === null ? this.nextSize : Math.max(1, Math.min(this.nextSize, this.limit - this.total));
    this.nextSize = Math.min(this.nextSize * 2, 16 * 1024 * 1024);
    this.current = Buffer.allocUnsafe(size);
  }

  private flush(): void {
    if (this.pos > 0) this.chunks.push(this.current.subarray(0, this.pos));
    this.current = this.current.subarray(this.pos);
    this.pos = 0;
  }
}
