"""Sends canvas.* tasks to a Celeriac worker (CANVAS_QUEUE) in the content
Celery speaks beyond json: the yaml serializer, bzip2, zstd and lzma/xz compression
(kombu's names), or, when CANVAS_SECURITY_DIR is set, signed by
app.setup_security(). Prints what came of each, as one JSON object."""
import json
import os

from canvasapp import add, identity
from produce_helpers import outcome

BIG = "celeriac " * 20000


def main():
    out = {}
    if os.environ.get("CANVAS_SECURITY_DIR"):
        out["signed"] = outcome(add.delay(20, 22))
        out["signed_big"] = outcome(identity.apply_async((BIG,), compression="bzip2"))
    else:
        out["yaml"] = outcome(add.apply_async((2, 3), serializer="yaml"))
        out["yaml_types"] = outcome(identity.apply_async(({"yes": "yes", "n": None, "l": [1.5, True]},), serializer="yaml"))
        for alias in ("bzip2", "bzip", "zstd", "zstandard", "xz", "lzma"):
            out[alias] = outcome(identity.apply_async((BIG,), compression=alias))
        out["yaml_zstd"] = outcome(add.apply_async((40, 2), serializer="yaml", compression="zstd"))
    out["big_length"] = len(BIG)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
