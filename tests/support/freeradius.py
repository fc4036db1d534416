"""Running a private FreeRADIUS 3.2 (Debian): the process side shared by the interop tests' peers
(tests/interop/peers.py) and the benchmarks' instance (bench/freeradius.py), which each write their
own configuration.

``FreeRadiusProcess`` runs ``freeradius -f -d DIR -l LOG`` until ``stop()``; ``start()`` returns once
``ready()`` says so. The ports a subclass chose itself (``tests.support.ports``) were free when chosen,
not reserved: if one is taken before FreeRADIUS binds ("Address already in use"), ``start()`` lets the
subclass choose new ones (``choose_new_ports``) and tries again, up to ``attempts`` times in all.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from tests.support import processes

PORT_CLASH = "Address already in use"
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")


def render(template: Path, values: Mapping[str, str], *, complete: bool = True) -> str:
    """The template's text with each ``@@KEY@@`` replaced by ``values[KEY]``; ``complete``: refuse a
    placeholder left unfilled (a configuration FreeRADIUS would misread rather than reject)."""
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if complete and (left := _PLACEHOLDER.search(text)):
        raise ValueError(f"{template.name}: {left.group()} was left unfilled")
    return text


class FreeRadiusProcess:
    """One FreeRADIUS process over the configuration in ``dir``; its log is ``log``, its stdout and
    stderr (where start-up errors land) ``dir/log/stderr.log``. Subclasses write the configuration
    and say when the server is ready."""

    binary = "freeradius"

    def __init__(self, directory: Path, *, stop_timeout: float = 10.0) -> None:
        self.dir = directory
        self.log = directory / "log" / "radius.log"
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._start_sizes = (0, 0)

    @property
    def _stderr(self) -> Path:
        return self.dir / "log" / "stderr.log"

    # -- for subclasses

    def ready(self) -> bool:
        """Whether the server now serves (``logged_since_start()`` has what it logged so far)."""
        raise NotImplementedError

    def choose_new_ports(self) -> bool:
        """After a port clash: choose other ports, rewrite the configuration and say True; False when
        the ports are not this object's to choose (given by the caller, or already published)."""
        return False

    # -- process

    def start(self, timeout: float = 30.0, *, attempts: int = 3) -> None:
        """Start and return once ``ready()``; on a port clash, new ports and another try (see above)."""
        if self.proc is not None:
            raise RuntimeError("already started")
        deadline = time.monotonic() + timeout
        while True:
            self._start_sizes = self._output_sizes()
            self._stderr.parent.mkdir(parents=True, exist_ok=True)
            with self._stderr.open("ab") as err:
                self.proc = subprocess.Popen(
                    [self.binary, "-f", "-d", str(self.dir), "-l", str(self.log)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                )
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.proc = None
                    break
                if self.ready():
                    return
                time.sleep(0.02)
            else:
                self.stop()
                raise RuntimeError(f"freeradius did not answer within {timeout:g} s\n{self.log_tail()}")
            attempts -= 1
            clash = PORT_CLASH in self._output_since(self._start_sizes)
            if not (clash and attempts > 0 and self.choose_new_ports()):
                raise RuntimeError(f"freeradius exited at start:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers (also how a test simulates an outage)."""
        proc, self.proc = self.proc, None
        processes.stop(proc, self.stop_timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- what it said

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The end of its log and of its stderr (start-up errors land there)."""
        try:
            stderr = self._stderr.read_text(errors="replace")
        except OSError:
            stderr = ""
        return "\n".join((self.log_text() + stderr).splitlines()[-lines:]) or "(no log)"

    def logged_since_start(self) -> str:
        """What it wrote to its log since the last ``start()`` began."""
        return self._output_since(self._start_sizes, both=False)

    def _output_sizes(self) -> tuple[int, int]:
        log, stderr = (path.stat().st_size if path.exists() else 0 for path in (self.log, self._stderr))
        return log, stderr

    def _output_since(self, sizes: tuple[int, int], *, both: bool = True) -> str:
        """What it logged (and, with ``both``, printed) since ``sizes`` were taken."""
        said = []
        for path, size in list(zip((self.log, self._stderr), sizes, strict=True))[: 2 if both else 1]:
            try:
                with path.open("rb") as f:
                    f.seek(size)
                    said.append(f.read().decode(errors="replace"))
            except OSError:
                pass
        return "".join(said)
