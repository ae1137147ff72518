"""A small synchronous LSP client over stdio: JSON-RPC framing, requests, notifications, a bounded wait for each."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: The longest a test waits for one answer or notification (the machine may be busy).
WAIT_S = 60.0

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`python -m eqxdsl lsp` as a subprocess, spoken to over its standard input and output.

    A reader thread splits the server's output into messages; responses are
    matched to requests by id, notifications are kept in arrival order.
    """

    def __init__(self, cwd: Path):
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eqxdsl", "lsp"], cwd=cwd, env=environment,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._next_id = 0
        self._responses: dict[int, dict] = {}
        self._notifications: list[dict] = []
        self._arrived = threading.Condition()
        self._errors: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # -- wire ----------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            with self._arrived:
                if "id" in message and "method" not in message:
                    self._responses[message["id"]] = message
                elif "id" in message:
                    # A request from the server (registerCapability, ...): accept it.
                    self._send({"id": message["id"], "result": None})
                else:
                    self._notifications.append(message)
                self._arrived.notify_all()

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            self._errors.put(line.decode(errors="replace"))

    def stderr(self) -> str:
        lines = []
        while not self._errors.empty():
            lines.append(self._errors.get())
        return "".join(lines)

    # -- protocol ----------------------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        """Send a request and wait for its result; an error response fails the test."""
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        deadline = time.monotonic() + WAIT_S
        with self._arrived:
            while ident not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no answer to {method} within {WAIT_S:g} s; server said:\n{self.stderr()}")
                self._arrived.wait(left)
            response = self._responses.pop(ident)
        assert "error" not in response, f"{method} failed: {response['error']}"
        return response["result"]

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def diagnostics(self, uri: str, version: int | None = None) -> list[dict]:
        """Wait for the diagnostics of `uri` (of `version`, if given) and return them; earlier ones are consumed."""
        deadline = time.monotonic() + WAIT_S
        with self._arrived:
            while True:
                for index, message in enumerate(self._notifications):
                    params = message.get("params", {})
                    if (message["method"] == "textDocument/publishDiagnostics" and params["uri"] == uri
                            and (version is None or params.get("version") == version)):
                        del self._notifications[: index + 1]
                        return params["diagnostics"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no diagnostics for {uri} within {WAIT_S:g} s; server said:\n{self.stderr()}")
                self._arrived.wait(left)

    def shutdown(self) -> int:
        """Ask the server to shut down and exit; returns its exit status."""
        self.request("shutdown", None)
        self.notify("exit", None)
        try:
            return self.process.wait(timeout=WAIT_S)
        finally:
            self.process.stdin.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
