"""The locust side of a load test, run as its own process: ``python locust_child.py SPEC.json``.

Locust monkey-patches the standard library with gevent as soon as it is imported, which must
not happen in a process that also holds torch, threads or a TorchServe launcher. So
foodclf.loadtest.runner writes a spec file and runs this file *by path* in a child process; it imports
only the standard library and locust (never the foodclf package), drives the stages and
writes every completed request to a JSON file that the parent turns into statistics.

SPEC.json: {"url", "image", "content_type", "stages": [{"duration_s", "users", "delay_s"}],
            "timeout_s", "seed", "out", "clock_file" (optional: t0 is written there when the
            first stage starts, for a controller that must keep the load's time)}
out:       {"t0", "stage_starts", "end", "requests": [[start, seconds, status, error], ...],
            "cpu_s_at_stage_starts", "cpu_s_end"}   (this process's CPU seconds: the load
            generator's own load, one core at most, since locust's users share one thread)
"""
import os
import sys

# Run by path, Python puts this folder (the foodclf package) first on sys.path, where io.py,
# errors.py and friends would shadow modules of the same name; take it off before importing.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

# locust first: it patches the stdlib with gevent before anything else imports it
# isort: off
import locust  # noqa: E402,F401  (patches the stdlib with gevent on import)

import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust import constant, task  # noqa: E402
from locust.contrib.fasthttp import FastHttpUser  # noqa: E402
from locust.env import Environment  # noqa: E402
# isort: on

log = logging.getLogger("foodclf.loadtest.locust_child")

# The stage every user is in; its event is set when the stage ends, so a stage change
# reaches users in the middle of a wait.
CURRENT = {"index": 0, "delay_s": 0.0, "changed": Event()}
SPAWN_RATE = 100  # users per second: a stage's users all start within a fraction of a second


def make_user_class(spec: dict, body: bytes) -> type:
    parts = urlsplit(spec["url"])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": spec["content_type"]}
    rng = random.Random(spec.get("seed"))

    class PhotoUser(FastHttpUser):
        """A siege user: wait a random 0..delay seconds, then POST the photo; repeat."""
        host = f"{parts.scheme}://{parts.netloc}"
        wait_time = constant(0)  # the siege delay comes before each request, inside the task
        network_timeout = spec["timeout_s"]
        connection_timeout = spec["timeout_s"]
        max_retries = 0
        concurrency = 1  # one connection per user: a closed-loop user has one request in flight

        @task
        def predict(self):
            siege_delay(rng)
            self.client.post(path, data=body, headers=headers, name="predict")

    return PhotoUser


def siege_delay(rng: random.Random) -> None:
    """Sleep a random time up to the stage's delay, drawing again if the stage changes meanwhile
    (siege starts each stage afresh; a 100 s wait must not leak into a 1 s stage)."""
    while True:
        changed = CURRENT["changed"]
        if not changed.wait(rng.uniform(0, CURRENT["delay_s"])):
            return  # slept the whole delay: time to send


def next_stage(index: int, delay_s: float) -> None:
    """Switch every user to a new stage: waiting users wake up and draw a new delay."""
    previous = CURRENT["changed"]
    CURRENT.update(index=index, delay_s=delay_s, changed=Event())
    previous.set()


def describe_failure(response, exception) -> tuple[int, str]:
    """(HTTP status or 0, error text): the parent sorts them into connection/timeout/http kinds."""
    status = int(getattr(response, "status_code", 0) or 0)
    if exception is None:
        return status, ""
    return status, f"{type(exception).__name__}: {exception}"[:200]


def run(spec: dict) -> dict:
    body = open(spec["image"], "rb").read()
    env = Environment(user_classes=[make_user_class(spec, body)])
    requests = []

    def on_request(response_time, response=None, exception=None, start_time=None, **_):
        status, error = describe_failure(response, exception)
        requests.append([start_time, response_time / 1000.0, status, error])

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    t0 = time.time()
    if spec.get("clock_file"):
        _write_atomically(spec["clock_file"], repr(t0))
    starts, cpu_starts, at = [], [], t0
    try:
        for index, stage in enumerate(spec["stages"], start=1):
            next_stage(index, float(stage["delay_s"]))
            starts.append(time.time())
            cpu_starts.append(time.process_time())
            runner.start(int(stage["users"]), spawn_rate=SPAWN_RATE)
            at += float(stage["duration_s"])
            gevent.sleep(max(0.0, at - time.time()))  # absolute deadlines: no drift over 30 stages
    finally:
        end, cpu_end = time.time(), time.process_time()
        runner.quit()  # in-flight requests are abandoned; only completed ones are counted
    return {"t0": t0, "stage_starts": starts, "end": end, "requests": requests,
            "cpu_s_at_stage_starts": cpu_starts, "cpu_s_end": cpu_end}


def main(spec_path: str) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s locust: %(message)s")
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    _write_atomically(spec["out"], json.dumps(run(spec)))
    return 0


def _write_atomically(path: str, text: str) -> None:
    """A reader polling ``path`` sees nothing or the whole text, never half of it."""
    with open(path + ".part", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".part", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
