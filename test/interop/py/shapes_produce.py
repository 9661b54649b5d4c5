"""Starts nested canvas shapes from Python Celery on the Celeriac worker
(CANVAS_QUEUE) and prints what came of each, as one JSON object."""
import json

from celery import chain, chord, group

from canvasapp import add, double, identity, tsum
from produce_helpers import outcome, ts


def main():
    out = {}
    # A chord body written as a chain whose only member is a chain: the header results once.
    out["chain_of_chain_body"] = outcome(chord([add.s(1, 1), add.s(2, 2)], chain(chain(tsum.s(), double.s()))).apply_async())
    # A chain ending in a group inside a chord header: one part, the group's list.
    out["group_tail_header"] = outcome(chord(group(chain(identity.s(42), group(identity.s(), identity.s()))), identity.s()).apply_async())
    out["empty_chain"] = outcome(ts("replace.byEmptyChain").delay())
    out["empty_group"] = outcome(ts("replace.byEmptyGroup").delay())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
