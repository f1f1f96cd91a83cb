#!/usr/bin/env python3
"""Times a page of cpd-hub as a person's browser loads it: headless Chromium, driven by
chromedriver over WebDriver, with the API token as an `Authorization` header on every request
(the pages take a bearer token as the API does). Prints, for each load, the navigation timing
from the request: first byte, last byte, the document interactive and the load event, with
the bytes transferred and the table rows on the page.

    bench/page_load.py TOKEN URL [RUNS]

Needs Debian's chromium (or chromium-headless-shell) and chromium-driver; Python's standard
library only.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    token, url = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    port = free_port()
    driver = subprocess.Popen(
        ["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def call(method, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        return json.load(urllib.request.urlopen(req, timeout=900))["value"]

    for _ in range(100):
        try:
            call("GET", "/status")
            break
        except OSError:
            time.sleep(0.1)
    options = {"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]}
    for binary in (
        "/usr/lib/chromium-headless-shell/chromium-headless-shell",
        "/usr/bin/chromium-headless-shell",
        "/usr/bin/chromium",
    ):
        if os.path.exists(binary):
            options["binary"] = binary
            break
    caps = {"goog:chromeOptions": options, "timeouts": {"pageLoad": 900_000, "script": 60_000}}
    session = call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
    try:
        cdp = f"/session/{session}/goog/cdp/execute"
        call("POST", cdp, {"cmd": "Network.enable", "params": {}})
        call(
            "POST",
            cdp,
            {
                "cmd": "Network.setExtraHTTPHeaders",
                "params": {"headers": {"Authorization": f"Bearer {token}"}},
            },
        )
        for i in range(runs):
            call("POST", f"/session/{session}/url", {"url": "about:blank"})
            call("POST", f"/session/{session}/url", {"url": url})
            n = call(
                "POST",
                f"/session/{session}/execute/sync",
                {
                    "script": "const n = performance.getEntriesByType('navigation')[0]; "
                    "return [n.responseStart, n.responseEnd, n.domInteractive, n.loadEventEnd, "
                    "n.transferSize, document.querySelectorAll('tr').length];",
                    "args": [],
                },
            )
            print(
                f"load {i + 1}: first byte {n[0] / 1000:.3f} s, last byte {n[1] / 1000:.3f} s, "
                f"interactive {n[2] / 1000:.3f} s, loaded {n[3] / 1000:.3f} s, "
                f"{n[4]} bytes transferred, {n[5]} table rows",
                flush=True,
            )
    finally:
        call("DELETE", f"/session/{session}")
        driver.terminate()


if __name__ == "__main__":
    main()
