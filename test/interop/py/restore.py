"""kombu's side of the unacked-message protocol, for the interop tests.

restore.py restore <tag>      kombu's QoS.restore_by_tag: puts an unacked message back.
restore.py take-and-die <q>   takes one message with ack emulation (recorded in
                              the unacked hash), then dies without acking.
Prints JSON."""
import json
import os
import sys

from pyapp import app


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        if mode == "restore":
            channel.qos.restore_by_tag(arg, leftmost=False)
            print(json.dumps({"restored": arg}))
            return
        q = conn.SimpleQueue(arg, no_ack=False)
        m = q.get(timeout=5)
        print(json.dumps({"id": m.headers.get("id"), "tag": m.delivery_tag}), flush=True)
        os._exit(0)  # no ack, no clean shutdown: the message stays in the unacked hash


if __name__ == "__main__":
    main()
