"""Takes every ready message of a queue with kombu's own Redis consumer, in the
order kombu serves them (priority steps 0, 3, 6, 9), and prints their task ids
and priorities as JSON. argv: queue name."""
import json
import sys

from pyapp import app


def main():
    queue = sys.argv[1]
    got = []
    with app.connection_for_read() as conn:
        q = conn.SimpleQueue(queue, no_ack=True)
        while True:
            try:
                m = q.get(timeout=0.5)
            except q.Empty:
                break
            got.append({"id": m.headers.get("id"), "priority": m.properties.get("priority"), "eta": m.headers.get("eta")})
        q.close()
    print(json.dumps(got))


if __name__ == "__main__":
    main()
