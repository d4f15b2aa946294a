#!/usr/bin/env python3
"""Presses keys on a page in headless Chromium; used by tests/test_page.c.

    page_keys.py URL KEY [KEY ...]

Opens URL, then prints one JSON line with the page's state, and one more
after each key press: {"cur": ids of the highlighted drawing elements,
"hash": location.hash, "eq": the shown equation, "phase": the heading above
it, "counter": "step K of N"}.  The keys are real key
events sent through the DevTools protocol (Input.dispatchKeyEvent) over
--remote-debugging-pipe (file descriptors 3 and 4): no network port, no
npm package, only Debian's chromium and the Python standard library.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "ArrowUp": 38, "ArrowDown": 40, "Home": 36, "End": 35}
STATE = ("JSON.stringify({cur: Array.from(document.querySelectorAll('#drawing .cur')).map(e => e.id).filter(x => x),"
         " hash: location.hash, eq: document.getElementById('eq').textContent,"
         " phase: document.getElementById('phase').textContent,"
         " counter: document.getElementById('counter').textContent})")


def main():
    url, keys = sys.argv[1], sys.argv[2:]
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()

    def child_fds():
        os.dup2(cmd_r, 3)
        os.dup2(res_w, 4)

    profile = tempfile.mkdtemp(prefix="gr_chromium")
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"],
        pass_fds=(3, 4), preexec_fn=child_fds, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(cmd_r)
    os.close(res_w)
    pending = b""
    last_id = 0

    def call(method, params=None, session=None):
        nonlocal pending, last_id
        last_id += 1
        msg = {"id": last_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + 30
        while True:
            while b"\0" not in pending:
                if time.time() > deadline:
                    sys.exit("page_keys: no answer to " + method)
                chunk = os.read(res_r, 65536)
                if not chunk:
                    sys.exit("page_keys: chromium closed the pipe")
                pending += chunk
            raw, pending = pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == last_id:
                if "error" in reply:
                    sys.exit("page_keys: %s: %s" % (method, reply["error"]))
                return reply["result"]

    try:
        target = call("Target.createTarget", {"url": url})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

        def evaluate(js):
            return call("Runtime.evaluate", {"expression": js, "returnByValue": True}, session)["result"].get("value")

        ready = ("location.protocol === 'file:' && document.readyState === 'complete'"
                 " && !!document.getElementById('eq') && document.getElementById('eq').textContent.length > 0")
        for _ in range(400):
            if evaluate(ready):
                break
            time.sleep(0.05)
        else:
            sys.exit("page_keys: the page did not load: " + url)
        print(evaluate(STATE))
        for key in keys:
            for kind in ("rawKeyDown", "keyUp"):
                call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                "windowsVirtualKeyCode": KEYS[key]}, session)
            print(evaluate(STATE))
        call("Browser.close")
        browser.wait(timeout=30)
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.wait()
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()
