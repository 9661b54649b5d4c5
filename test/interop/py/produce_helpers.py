"""What the cross-language producer scripts share: a workflow's outcome as
JSON, and a signature of a Celeriac task by name."""
from canvasapp import app


def outcome(res, timeout=30):
    try:
        return {"state": "SUCCESS", "result": res.get(timeout=timeout)}
    except Exception as exc:  # the other side's error, re-created by Celery
        return {"state": "FAILURE", "type": type(exc).__name__, "message": str(exc)}


def ts(name, *args):
    return app.signature(name, args=args)
