"""`pip install .` of a wheel built from this checkout: the installed `basketlift` runs from a
directory that is not the checkout.

Everything the commands read at run time (the Kafka pom.xml, the JSON Schemas, the sample
orders, the rules example) must ship inside the wheel: a path that only resolves inside a
checkout works in the editable development install and breaks for every user of the package.

How the fresh environment gets the dependencies without the network: the wheel is installed
with `--no-deps` into a venv created `--without-pip`, and a `.pth` file in that venv names the
site-packages of the interpreter running the tests (the project's .venv, which scripts/setup.sh
filled with the pinned dependencies). A path line in a `.pth` file only appends that directory
to `sys.path`; the `.pth` files inside it are not processed, so the editable install of the
checkout (an import hook started by its own `.pth` file) stays off and `streams`/`schemas`
resolve to the venv's own site-packages, which precede the appended directory. The test
asserts that. pip itself is reached the same way (`python -m pip` inside the venv installs
into the venv). The wheel is built `--no-build-isolation` when the running environment has
the build requirement (setuptools is a pinned dev dependency), so no index is contacted;
otherwise pip builds it in an isolated environment, as `pip install .` does.

The commands run from an empty temporary directory, with no PYTHONPATH, against a broker of
the test's own (own ports and data dir, jars linked from the shared broker's cache) that the
installed `basketlift kafka start` starts and the fixture stops afterwards. The demo runs
`--no-fresh` (the broker was just started empty; `--fresh` would only restart it) on the
first 30 orders of the sample, `--keep-running`, so that its gateway's demo page, widget
and catalog (package data) are fetched from the installed copy before the test stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from streams import devbroker
from streams.settings import Settings
from tests.support.kafka import (
    Deployment,
    WorkerProcess,
    free_port,
    free_port_run,
    new_deployment,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 300


@dataclass(frozen=True)
class InstalledPackage:
    """A venv with the wheel installed, and where to run its commands from."""

    venv: Path
    cwd: Path

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.venv / "bin" / "python"

    @property
    def basketlift(self) -> Path:
        """The console script pip generated for the wheel."""
        return self.venv / "bin" / "basketlift"

    def run(self, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv in the test's directory; output captured as text."""
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )


def clean_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) without what would find the checkout."""
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def build_requirements_installed() -> bool:
    """True when every `[build-system] requires` pin is the installed version here."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in requires:
        name, _, pinned = requirement.partition("==")
        try:
            if version(name) != pinned:
                return False
        except PackageNotFoundError:
            return False
    return True


def check(result: subprocess.CompletedProcess[str], what: str) -> str:
    """The command's stdout; fails with its output when it exited non-zero."""
    assert result.returncode == 0, (
        f"{what} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
        f"stderr:\n{result.stderr[-4000:]}"
    )
    return result.stdout


def copy_checkout(target: Path) -> None:
    """Copy the checkout's files (tracked, and untracked but not ignored) under `target`.

    The wheel is built from the copy: a build leaves build/ and *.egg-info in its source tree.
    """
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in names)):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes((ROOT / name).read_bytes())


def build_wheel(source: Path, wheels: Path) -> Path:
    """`pip wheel --no-deps` of `source` into `wheels`; the wheel's path."""
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels)]
    if build_requirements_installed():
        build.append("--no-build-isolation")
    result = subprocess.run(
        [*build, str(source)],
        cwd=source.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    check(result, "pip wheel")
    (wheel,) = wheels.glob("basketlift-*.whl")
    return wheel


def venv_seeing_our_dependencies(venv: Path) -> None:
    """A venv without pip whose `.pth` file appends this interpreter's site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout.strip()
    ours = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (Path(purelib) / "basketlift-test-dependencies.pth").write_text(
        "".join(f"{path}\n" for path in ours)
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledPackage:
    """The wheel of this checkout, built and installed into a fresh venv."""
    base = tmp_path_factory.mktemp("installed")
    copy_checkout(base / "source")
    wheel = build_wheel(base / "source", base / "wheels")
    venv_seeing_our_dependencies(base / "venv")
    (base / "elsewhere").mkdir()
    package = InstalledPackage(base / "venv", base / "elsewhere")
    install: list[str | Path] = [package.python, "-m", "pip", "install", "-q", "--no-deps"]
    install += ["--no-index", wheel]
    check(package.run(*install, env=clean_env()), "pip install")
    return package


def test_the_installed_modules_come_from_the_wheel_not_the_checkout(
    installed: InstalledPackage,
) -> None:
    out = check(
        installed.run(
            installed.python,
            "-c",
            "import schemas, streams; print(streams.__file__); print(schemas.__file__)",
            env=clean_env(),
        ),
        "import",
    )
    for line in out.splitlines():
        assert Path(line).is_relative_to(installed.venv), line


def test_version_prints_the_package_version(installed: InstalledPackage) -> None:
    out = check(installed.run(installed.basketlift, "--version", env=clean_env()), "--version")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert out.strip() == f"basketlift {project['version']}"


@pytest.fixture
def own_broker(tmp_path: Path, installed: InstalledPackage) -> Iterator[Deployment]:
    """Unique topics on a broker home of the test's own, whose jars are the shared cache's.

    Yields after nothing is started: the test starts the broker with the installed
    `basketlift kafka start`; whatever it started is stopped afterwards.
    """
    jars = devbroker.ensure_jars(Settings(), echo=lambda *_: None)
    home = tmp_path / "kafka"
    home.mkdir()
    (home / jars.name).symlink_to(jars, target_is_directory=True)
    deployment = new_deployment(f"127.0.0.1:{free_port_run(2)}", partitions=2)
    try:
        yield deployment
    finally:
        settings = Settings(broker=f"kafka://{deployment.bootstrap}", kafka_home=home)
        devbroker.stop_broker(settings, echo=lambda *_: None)


def test_kafka_start_worker_and_demo_run_from_the_installed_wheel(
    installed: InstalledPackage, own_broker: Deployment, tmp_path: Path
) -> None:
    env = clean_env(
        own_broker.env(
            tmp_path / "worker-data",
            BASKETLIFT_KAFKA_HOME=str(tmp_path / "kafka"),
            BASKETLIFT_KAFKA_HEAP="512m",
        )
    )

    started = check(installed.run(installed.basketlift, "kafka", "start", env=env), "kafka start")
    assert "Kafka is ready" in started
    assert own_broker.topic("carts") in started

    log_path = tmp_path / "worker.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(installed.basketlift), "worker"],
            cwd=installed.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    worker = WorkerProcess(process, own_broker, log_path)
    try:
        worker.wait_healthy(timeout=180)
    finally:
        assert worker.stop() == 0, worker.log_tail()

    # COLUMNS: rich would wrap the summary lines at 80 columns on a pipe.
    gateway_port = free_port()
    demo_env = dict(
        env,
        BASKETLIFT_DATA_DIR=str(tmp_path / "demo-data"),
        BASKETLIFT_GATEWAY_PORT=str(gateway_port),
        COLUMNS="400",
    )
    out = check(
        installed.run(
            installed.basketlift,
            "demo",
            "--no-fresh",
            "--limit-orders",
            "30",
            "--keep-running",
            env=demo_env,
        ),
        "demo",
    )
    kept = re.search(r"Stop them with kill (\d+) (\d+)\.", out)
    assert kept is not None, out
    try:
        decisions = re.search(rf"Decisions on {re.escape(own_broker.topic('offers'))}: (.+)", out)
        assert decisions is not None, out
        assert decisions.group(1) != "none", out
        demo_url = f"http://127.0.0.1:{gateway_port}/demo/"
        assert f"Demo storefront: {demo_url}" in out
        assert_demo_served(demo_url, expected_orders=30)
    finally:
        for pid in kept.groups():  # the worker, then the gateway
            stop_kept_process(int(pid))


def stop_kept_process(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process `--keep-running` left (a group leader, not our child), SIGKILL its
    group if it is still there after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def assert_demo_served(demo_url: str, expected_orders: int) -> None:
    """The installed gateway serves the demo page, the widget and the sample's catalog (all
    package data), and its store summary counts the replayed orders in both cohorts, as
    does the first summary its store stream pushes."""
    base = demo_url.removesuffix("/demo/")
    with urllib.request.urlopen(demo_url, timeout=30) as response:
        assert b'<script src="/basketlift.js">' in response.read()
    with urllib.request.urlopen(base + "/basketlift.js", timeout=30) as response:
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert b"Basketlift" in response.read()
    with urllib.request.urlopen(demo_url + "catalog.json", timeout=60) as response:
        catalog = json.loads(response.read())
    assert catalog["products"] and all(product["title"] for product in catalog["products"])
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(base + "/v1/store/summary", timeout=30) as response:
            summary = json.loads(response.read())
        cohorts = summary["cohorts"]
        paired = cohorts["treatment"]["orders"] + cohorts["holdout"]["orders"]
        if paired == expected_orders or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert summary["orders"] == expected_orders, summary
    assert paired == expected_orders, summary
    # The side panel's stream opens with the same summary (and then pushes decisions).
    with urllib.request.urlopen(base + "/v1/store/decisions/stream", timeout=30) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        while stream.readline() != b"event: summary\n":
            pass
        pushed = json.loads(stream.readline().removeprefix(b"data: "))
    assert pushed["orders"] == expected_orders, pushed
