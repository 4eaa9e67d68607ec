"""A local csms cluster: nginx in front of several web (uvicorn) processes, Celery workers and one beat, all on one
PostgreSQL and one Redis — the production topology on one machine (see docs/operations.md).

    DATABASE_URL=postgres://… REDIS_URL=redis://… python deploy/cluster.py [--web 2] [--workers 2] [--port 8080]

or ``make cluster``. It migrates, collects static files, starts everything, prints the addresses and runs until
Ctrl-C (or SIGTERM), then stops every process. Logs and nginx's configuration are in --run-dir.

The tests start the same cluster through the ``Cluster`` class (tests/cluster/).
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each charger holds two connections in nginx (its own and the one to its web process): with one worker, 10 000 chargers
# need 20 000 descriptors, past many machines' per-process limit. Two workers, the kernel spreading new
# connections over them (reuseport), halve that.
NGINX_CONF = """\
worker_processes 2;
worker_rlimit_nofile 65536;
error_log {run}/nginx-error.log warn;
pid {run}/nginx.pid;
events {{ worker_connections 32768; }}
http {{
    access_log {run}/nginx-access.log;
    client_body_temp_path {run}/nginx-tmp/body;
    proxy_temp_path {run}/nginx-tmp/proxy;
    fastcgi_temp_path {run}/nginx-tmp/fastcgi;
    uwsgi_temp_path {run}/nginx-tmp/uwsgi;
    scgi_temp_path {run}/nginx-tmp/scgi;
    client_max_body_size 10m;

    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}

    # A charger whose process died reconnects and is sent to a live one: a refused connect marks the process
    # failed for 10 s and the request goes to the next.
    upstream csms {{
{servers}
    }}

    server {{
        listen {host}:{port} reuseport;

        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-ID $request_id;
        # Chargers stay connected for weeks; their heartbeats keep the socket busy well within this.
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
        proxy_next_upstream error timeout;

        # Metrics are for the monitoring network, not the internet (or set METRICS_TOKEN).
        location = /metrics {{
            allow 127.0.0.1;
            deny all;
            proxy_pass http://csms;
        }}

        location / {{
            proxy_pass http://csms;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


#: How csms runs its web server (the Procfile says the same): uvicorn with the websockets library's sans-I/O
#: protocol, which costs a third less CPU per OCPP frame than daphne's Twisted stack and writes a frame in one system
#: call. It answers a charger's websocket pings but sends none: a charger that vanished is found by its silence
#: (charging/ocpp/consumer.py, SilenceWatch). No compression (chargers rarely ask, and it costs memory per
#: connection); no lifespan events (Django has none); at most 5 s for connections to close on shutdown.
WEB_OPTIONS = ["--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--lifespan", "off",
               "--timeout-graceful-shutdown", "5"]


def web_command(host: str, port: int, *, proxy_headers: bool = False) -> list[str]:
    """The command that runs one csms web process. ``proxy_headers``: behind a proxy on this machine, take the
    client's address from X-Forwarded-For (the guessing throttle and the logs want the charger's, not nginx's)."""
    proxy = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"] if proxy_headers else ["--no-proxy-headers"]
    return [sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port), *WEB_OPTIONS, *proxy,
            "csms.asgi:application"]


@dataclass
class Member:
    name: str
    command: list[str]
    port: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)


class Cluster:
    """The processes of a local cluster; ``start()`` and ``stop()`` (or use it as a context manager)."""

    def __init__(self, run_dir: Path, *, web: int = 2, workers: int = 2, beat: bool = True, port: int | None = None,
                 environment: dict[str, str] | None = None, nginx: str = "nginx"):
        self.run_dir = Path(run_dir).resolve()
        self.port = port or free_port()
        self.nginx = nginx
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATA_DIR": str(self.run_dir / "data"),
                    **(environment or {})}
        for required in ("DATABASE_URL", "REDIS_URL"):
            if not self.env.get(required):
                raise SystemExit(f"{required} must be set: the cluster shares PostgreSQL and Redis")
        python = sys.executable
        self.web = [Member(f"web{n}", [], free_port()) for n in range(1, web + 1)]
        for member in self.web:
            member.command = web_command("127.0.0.1", member.port, proxy_headers=True)
        self.workers = [Member(f"worker{n}", [python, "-m", "celery", "-A", "csms", "worker", "--loglevel", "INFO",
                                              "--pool", "threads", "--concurrency", "2", "--hostname",
                                              f"worker{n}@%h"]) for n in range(1, workers + 1)]
        self.beat = Member("beat", [python, "-m", "celery", "-A", "csms", "beat", "--loglevel", "INFO",
                                    "--pidfile", str(self.run_dir / "beat.pid")]) if beat else None
        self.proxy = Member("nginx", [nginx, "-p", str(self.run_dir), "-c", str(self.run_dir / "nginx.conf"),
                                      "-g", "daemon off;"], self.port)

    @property
    def members(self) -> list[Member]:
        return [*self.web, *self.workers, *([self.beat] if self.beat else []), self.proxy]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def prepare(self) -> None:
        """Migrate and collect static files (once, before the processes start)."""
        for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=self.env, check=True)

    def _write_nginx_conf(self) -> None:
        servers = "\n".join(f"        server 127.0.0.1:{m.port} max_fails=1 fail_timeout=10s;" for m in self.web)
        for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / "nginx-tmp" / folder).mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)  # nginx opens its compiled-in log path before reading ours
        (self.run_dir / "nginx.conf").write_text(NGINX_CONF.format(run=self.run_dir, servers=servers,
                                                                   host="127.0.0.1", port=self.port))

    def _spawn(self, member: Member) -> None:
        log = self.log(member.name).open("a")
        member.process = subprocess.Popen(member.command, cwd=ROOT, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> "Cluster":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "data").mkdir(exist_ok=True)
        self._write_nginx_conf()
        try:
            for member in self.web:
                self._spawn(member)
            for member in self.web:
                wait_for_port(member.port, member.process)
            for member in self.members[len(self.web):]:
                self._spawn(member)
            wait_for_port(self.port, self.proxy.process)
        except Exception:
            self.stop()
            raise
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to member ``name`` (SIGKILL: it dies without a goodbye) and wait for it to exit."""
        member = next(m for m in self.members if m.name == name)
        member.process.send_signal(sig)
        member.process.wait(30)

    def restart(self, name: str) -> None:
        member = next(m for m in self.members if m.name == name)
        self._spawn(member)
        if member.port:
            wait_for_port(member.port, member.process)

    def stop(self) -> None:
        for member in reversed(self.members):
            if member.process is not None and member.process.poll() is None:
                member.process.terminate()
        for member in self.members:
            if member.process is not None:
                try:
                    member.process.wait(20)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait(10)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1 (default 8080)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "data" / "cluster",
                        help="logs, nginx configuration and DATA_DIR (default data/cluster)")
    arguments = parser.parse_args()
    cluster = Cluster(arguments.run_dir, web=arguments.web, workers=arguments.workers, port=arguments.port)
    cluster.prepare()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with cluster:
        say(f"csms cluster on {cluster.url} (chargers: {cluster.ws_url}/ocpp/<identity>)")
        for member in cluster.members:
            where = f" on 127.0.0.1:{member.port}" if member.port else ""
            say(f"  {member.name}{where}: pid {member.process.pid}, log {cluster.log(member.name)}")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop everything
            while not stopping and all(m.process.poll() is None for m in cluster.members):
                time.sleep(1)
        dead = [m.name for m in cluster.members if m.process.poll() is not None]
        if dead:
            say(f"stopping: {', '.join(dead)} exited (see its log)")


if __name__ == "__main__":
    main()
