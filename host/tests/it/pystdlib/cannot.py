import importlib

from gateway_tool import tool


def _attempt(fn):
    try:
        fn()
        return "ok"
    except BaseException as e:  # noqa: BLE001  (reporting what a tool would see)
        return type(e).__name__


@tool
def cannot(view: str) -> dict:
    """Reports what a tool gets from modules the sandbox cannot support, and from writing to its file view.

    Args:
        view: A file in the read-only view, e.g. /python/json/__init__.py.
    """
    def sock():
        socket = importlib.import_module("socket")
        socket.create_connection(("127.0.0.1", 9), timeout=1)

    def proc():
        importlib.import_module("subprocess").run(["true"])

    def thread():
        t = importlib.import_module("threading").Thread(target=lambda: None)
        t.start()
        t.join()

    def pool():
        with importlib.import_module("multiprocessing").Pool(2) as p:
            p.map(abs, [1])

    def write():
        with open(view, "a") as f:
            f.write("# changed\n")

    def create():
        with open(view + ".new", "w") as f:
            f.write("x")

    def rename():
        importlib.import_module("os").rename(view, view + ".moved")

    def remove():
        importlib.import_module("os").remove(view)

    def read():
        with open(view) as f:
            f.read(1)

    return {name: _attempt(fn) for name, fn in [
        ("socket", sock), ("subprocess", proc), ("threading", thread),
        ("multiprocessing", pool), ("write", write), ("create", create),
        ("rename", rename), ("remove", remove), ("read", read),
    ]}
