"""Running the app as a real server on loopback, for the benchmark, the stress tool and the browser tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
TRACEBACK = "Traceback (most recent call last)"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class AppServer:
    """``streamlit run app.py`` on a free 127.0.0.1 port."""

    def __init__(
        self,
        port: int | None = None,
        env: dict[str, str] | None = None,
        script: str = "app.py",
        cwd: Path = ROOT,
        flags: tuple[str, ...] = (),
        log: Path | None = None,
    ):
        self.port = port or free_port()
        self.env = env or {}
        self.script, self.cwd, self.flags = script, Path(cwd), tuple(flags)
        self.log = log  # the server's stdout and stderr go here (discarded when None)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start the process without waiting for it to answer."""
        output = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", self.script, "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(self.port), *self.flags],
                cwd=self.cwd,
                stdout=output,
                stderr=subprocess.STDOUT if self.log is not None else subprocess.DEVNULL,
                env={**os.environ, **self.env},
            )
        finally:
            if self.log is not None:
                output.close()

    def healthy(self) -> bool:
        """Whether Streamlit answers its health check now (False while it is not listening or not ready)."""
        try:
            return urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok"
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"streamlit did not answer {self.url}/_stcore/health within {timeout:.0f} s")

    def start(self) -> "AppServer":
        self.launch()
        self.wait_healthy()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log_text(self) -> str:
        """What the server printed so far, without colour codes (Streamlit's tracebacks come coloured by Rich)."""
        if self.log is None or not self.log.exists():
            return ""
        return ANSI_CODE.sub("", self.log.read_text(errors="replace"))

    @property
    def rss(self) -> float:
        return rss_mb(self.process.pid)
