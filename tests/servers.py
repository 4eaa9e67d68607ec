"""Helpers for tests and benchmarks that start real server processes on loopback."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from deploy.cluster import free_port, wait_for_port, web_command

ROOT = Path(__file__).resolve().parent.parent
# free_port and wait_for_port come from deploy/cluster.py and are used from here by the tests.
__all__ = ["ROOT", "free_port", "running_csms", "running_redis", "wait_for_port"]


@contextlib.contextmanager
def _serving(command: list[str], port: int, log: Path | None = None, **popen) -> Iterator[None]:
    """Run ``command`` until exit, from the moment it listens on ``port``. Its output goes to ``log`` (whose tail is
    printed if it did not stop cleanly) or nowhere."""
    with log.open("w") if log else open(os.devnull, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **popen)
        try:
            wait_for_port(port, process)
            yield
        finally:
            process.terminate()
            process.wait(10)
            if log and process.returncode not in (0, -15):
                print(log.read_text()[-5000:])


@contextlib.contextmanager
def running_redis(binary: str) -> Iterator[str]:
    """The URL of a private redis-server (``binary``) on a free port, without persistence, until exit."""
    port = free_port()
    with _serving([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"], port):
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def running_csms(data_dir: Path, **environment: str) -> Iterator[str]:
    """The base URL (ws://…) of a web process serving csms.asgi as production runs it (deploy.cluster.web_command),
    over websockets and HTTP, until exit.

    The process gets this one's environment plus ``environment`` (DATABASE_URL, REDIS_URL, …) and ``data_dir`` as
    its DATA_DIR. Static files are collected into ``data_dir`` first: with the production static storage (a
    manifest) every admin page fails without them. The server's log is ``data_dir/server.log``; its tail is
    printed if the server did not stop cleanly.
    """
    env = {**os.environ, **environment, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                   check=True)
    port = free_port()
    with _serving(web_command("127.0.0.1", port), port, log=data_dir / "server.log", cwd=ROOT, env=env):
        yield f"ws://127.0.0.1:{port}"
