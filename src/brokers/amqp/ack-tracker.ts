// Acks in as few frames as RabbitMQ allows. Delivery tags on a channel
// increase; basic.ack with `multiple` settles every outstanding tag up to one
// tag. The tracker knows which delivered tags we have settled (acked or
// nacked): a batch of acks becomes one multiple-ack up to the highest tag
// below which everything is settled, plus single acks for the tags of the batch
// above that (a long task still holding a lower tag must not keep them
// unacked: they would use up the prefetch window).
export class AckTracker {
  private order: number[] = [];
  private head = 0;
  private readonly settled = new Set<number>();

  delivered(tag: number): void {
    this.order.push(tag);
  }

  /** Delivered tags not settled yet: what counts against the consumer's prefetch. */
  get outstanding(): number {
    return this.order.length - this.head - this.settled.size;
  }

  /** Records acks; returns the tag to ack with `multiple` (or null) and the tags to ack one by one. */
  ack(tags: readonly number[]): { upTo: number | null; singles: number[] } {
    for (const t of tags) this.settled.add(t);
    const through = this.advance();
    if (through === null) return { upTo: null, singles: [...tags] };
    // The multiple-ack must name a tag still unacked in RabbitMQ (else it closes
    // the channel: "unknown delivery tag"). Tags of the run acked one by one
    // earlier are not: name the highest tag of this batch within the run.
    let upTo: number | null = null;
    for (const t of tags) if (t <= through && (upTo === null || t > upTo)) upTo = t;
    return { upTo, singles: tags.filter((t) => t > through) };
  }

  /** Records a tag settled otherwise (nacked): nothing to send for it. */
  settle(tag: number): void {
    this.settled.add(tag);
    this.advance();
  }

  private advance(): number | null {
    let upTo: number | null = null;
    while (this.head < this.order.length && this.settled.has(this.order[this.head]!)) {
      upTo = this.order[this.head]!;
      this.settled.delete(upTo);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    return upTo;
  }
}
