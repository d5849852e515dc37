"""Headless Chromium driven over the Chrome DevTools Protocol (CDP), for the browser tests.

A small client, over aiohttp's websocket (already a dependency): Debian's `chromium`
package runs headless with `--remote-debugging-port=0` and prints the browser's websocket
URL on stderr; a page is a target the client attaches to and sends CDP commands to
(`Page.navigate`, `Runtime.evaluate`, `Page.captureScreenshot`). Nothing is downloaded:
Playwright would fetch its own browser builds.

`chromium_path` is the browser or None; under CI (CI=true) the browser tests fail when it is
missing (`.ci/run` installs it), elsewhere they skip.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["BrowserError", "Page", "chromium", "chromium_path"]

CHROMIUM_NAMES = ("chromium", "chromium-browser")
DEVTOOLS_LINE = re.compile(rb"DevTools listening on (ws://\S+)")
START_TIMEOUT_SECONDS = 60.0


class BrowserError(AssertionError):
    """A CDP command failed, or a page script threw."""


def chromium_path() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


class Page:
    """One browser tab, attached over CDP (flattened session on the browser's socket)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.console: list[str] = []
        """Console messages and uncaught exceptions of the page, for failure messages."""

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One CDP command of this page; its result."""
        return await _command(self.socket, method, params, self.session_id, self.console)

    async def goto(self, url: str) -> None:
        """Open `url` and wait for its load event."""
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", timeout=30)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float) -> Any:
        """Poll `expression` until it is truthy; its value. Fails after `timeout` seconds
        with the page's console output."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"{expression!r} still falsy after {timeout}s; console: {self.console[-20:]}"
                )
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page at `path`."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = await self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


_ids = itertools.count(1)


async def _command(
    socket: aiohttp.ClientWebSocketResponse,
    method: str,
    params: dict[str, Any],
    session_id: str | None,
    console: list[str],
) -> dict[str, Any]:
    """Send one command and read messages until its answer (events on the way are kept
    when they are console output, else dropped)."""
    message_id = next(_ids)
    message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
    if session_id is not None:
        message["sessionId"] = session_id
    await socket.send_json(message)
    while True:
        answer = await socket.receive_json(timeout=60)
        if answer.get("id") == message_id:
            if "error" in answer:
                raise BrowserError(f"{method} failed: {answer['error']}")
            result: dict[str, Any] = answer.get("result", {})
            return result
        event = answer.get("method")
        if event == "Runtime.consoleAPICalled":
            args = answer["params"].get("args", [])
            console.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in args))
        elif event == "Runtime.exceptionThrown":
            console.append(str(answer["params"]["exceptionDetails"]))


@asynccontextmanager
async def chromium(profile_dir: Path, width: int = 1280, height: int = 900) -> AsyncIterator[Page]:
    """A headless Chromium with one page attached; the browser is killed on exit."""
    executable = chromium_path()
    if executable is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    process = subprocess.Popen(
        [
            executable,
            "--headless=new",
            "--no-sandbox",  # tests run as root in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile_dir}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        browser_url = await asyncio.to_thread(_devtools_url, process)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(browser_url, max_msg_size=0) as socket,
        ):
            console: list[str] = []
            target = await _command(
                socket, "Target.createTarget", {"url": "about:blank"}, None, console
            )
            attached = await _command(
                socket,
                "Target.attachToTarget",
                {"targetId": target["targetId"], "flatten": True},
                None,
                console,
            )
            page = Page(socket, attached["sessionId"])
            await page.send("Page.enable")
            await page.send("Runtime.enable")
            await page.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield page
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _devtools_url(process: subprocess.Popen[bytes]) -> str:
    """The browser's websocket URL, from the line Chromium prints on stderr at start."""
    assert process.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    seen: list[bytes] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        match = DEVTOOLS_LINE.search(line)
        if match is not None:
            return match.group(1).decode()
    raise BrowserError(f"chromium did not start: {b''.join(seen[-20:]).decode(errors='replace')}")
