#!/usr/bin/env python3
"""Opens pages in headless Chromium and presses keys; used by tests/test_page.c.

    page_keys.py [--shot FILE.png] [--dom] URL [STEP ...]

Opens URL in a 1280x720 window (--shot: then saves a screenshot of it), and
prints one JSON line with the page's state, and one more after each STEP:
{"cur": ids of the highlighted drawing elements, "hash": location.hash,
"eq": the shown equation, "phase": the heading above it, "counter": "step K
of N"}; with --dom each state line is followed by one line holding the
page's DOM (its outerHTML, newlines made spaces).  A STEP is a key name
(ArrowRight, Home, ...): a real key event sent through the DevTools protocol
(Input.dispatchKeyEvent); "#..." : the URL fragment set, as a person editing
the address would (the page's hashchange handler runs); "file://...": that
page opened in the same tab.  One browser serves all steps, over
--remote-debugging-pipe (file descriptors 3 and 4): no network port, no npm
package, only Debian's chromium and the Python standard library.
"""
import base64
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
    args, shot, dom = sys.argv[1:], None, False
    while args and args[0] in ("--shot", "--dom"):
        if args[0] == "--shot":
            shot, args = args[1], args[2:]
        else:
            dom, args = True, args[1:]
    url, keys = args[0], args[1:]
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()

    def child_fds():
        os.dup2(cmd_r, 3)
        os.dup2(res_w, 4)

    profile = tempfile.mkdtemp(prefix="gr_chromium")
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,720",
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
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 720, "deviceScaleFactor": 1,
                                                    "mobile": False}, session)

        def evaluate(js, wait=False):
            return call("Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": wait},
                        session)["result"].get("value")

        def open_page(u):
            call("Page.navigate", {"url": u}, session)
            ready = ("location.href.split('#')[0] === %s && document.readyState === 'complete'"
                     " && !!document.getElementById('eq') && document.getElementById('eq').textContent.length > 0"
                     % json.dumps(u.split("#")[0]))
            for _ in range(400):
                if evaluate(ready):
                    return
                time.sleep(0.05)
            sys.exit("page_keys: the page did not load: " + u)

        def state():
            print(evaluate(STATE))
            if dom:
                print(evaluate("document.documentElement.outerHTML").replace("\n", " "))

        open_page(url)
        if shot:
            with open(shot, "wb") as f:
                f.write(base64.b64decode(call("Page.captureScreenshot", {"format": "png"}, session)["data"]))
        state()
        for key in keys:
            if key.startswith("#"):      # the page's handler runs before this promise's
                evaluate("new Promise(function(r){addEventListener('hashchange',function(){setTimeout(r,0);},"
                         "{once:true});location.hash=%s;})" % json.dumps(key), wait=True)
            elif key.startswith("file:"):
                open_page(key)
            else:
                for kind in ("rawKeyDown", "keyUp"):
                    call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                    "windowsVirtualKeyCode": KEYS[key]}, session)
            state()
        call("Browser.close")
        browser.wait(timeout=30)
    finally:
        if browser.poll() is None:
            browser.kill()
            browser.wait()
        subprocess.run(["rm", "-rf", profile])


if __name__ == "__main__":
    main()
