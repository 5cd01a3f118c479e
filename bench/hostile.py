"""A bounded hostile-input soak against the local server (`make run`'s uvicorn), loopback only.

    python -m bench.hostile [--clients 20] [--seconds 30] [--garbage 0.1]

Each client keeps one HTTP connection alive and sends real photos, with a share of garbage
(truncated images, nested JSON, absurd options, wrong types, a trailing slash). It reports the
status codes seen, any 5xx, any answer without the one error shape, how often /healthz answered,
and the server's RSS at the start and the end. It stops by itself.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

import httpx

from bench.common import REPO, photos


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _garbage(rng: random.Random, photo: bytes) -> tuple[str, dict, bytes]:
    choice = rng.randrange(8)
    if choice == 0:
        return "/captions", {"Content-Type": "image/jpeg"}, photo[: len(photo) // 3]
    if choice == 1:
        return "/captions", {"Content-Type": "application/json"}, b"[" * 50_000 + b"]" * 50_000
    if choice == 2:
        body = b'{"image": "' + base64.b64encode(photo) + b'", "beam_size": 1e999}'
        return "/captions", {"Content-Type": "application/json"}, body
    if choice == 3:
        return "/captions?beam_size=" + "9" * 5000, {"Content-Type": "image/jpeg"}, photo
    if choice == 4:
        return "/captions", {"Content-Type": "application/json"}, b'{"image": 12}'
    if choice == 5:
        return "/captions", {"Content-Type": "text/plain"}, b"hello"
    if choice == 6:
        return "/captions", {"Content-Type": "image/png"}, bytes(rng.randrange(256)
                                                                  for _ in range(2000))
    return "/captions/", {"Content-Type": "image/jpg"}, photo


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--garbage", type=float, default=0.1)
    args = parser.parse_args()
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "caption.app:api", "--host",
                               "127.0.0.1", "--port", str(port)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        rss = lambda: int(open(f"/proc/{server.pid}/statm").read().split()[1]) * 4096 // 2**20  # noqa: E731
        rss_start = rss()
        images = photos()
        seen: collections.Counter = collections.Counter()
        problems: list[str] = []
        health: list[float] = []
        deadline = time.time() + args.seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=url, timeout=60) as http:
                while time.time() < deadline:
                    photo = images[rng.randrange(len(images))]
                    if rng.random() < args.garbage:
                        path, headers, body = _garbage(rng, photo)
                    else:
                        path, headers, body = "/captions", {"Content-Type": "image/jpeg"}, photo
                    response = http.post(path, content=body, headers=headers)
                    seen[response.status_code] += 1
                    if response.status_code >= 500:
                        problems.append(f"{response.status_code} on {path}: {response.text[:200]}")
                    elif response.status_code >= 400:
                        shape = response.json()
                        if set(shape) != {"error"} or set(shape["error"]) != {"code", "message"}:
                            problems.append(f"bad error shape: {response.text[:200]}")

        def checker() -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                while time.time() < deadline:
                    started = time.perf_counter()
                    http.get("/healthz")
                    health.append(1000 * (time.perf_counter() - started))
                    time.sleep(0.5)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=checker))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        health.sort()
        print(json.dumps({"requests": sum(seen.values()), "status": dict(seen),
                          "problems": problems[:10], "problem_count": len(problems),
                          "healthz_p50_ms": round(health[len(health) // 2], 1) if health else None,
                          "rss_mb_start": rss_start, "rss_mb_end": rss()}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
