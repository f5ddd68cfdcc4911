"""Hand-written capacity curves as complete loadtest.json content: the simulation's input
without a server."""
from __future__ import annotations

from pathlib import Path

from foodclf import contracts
from foodclf.contracts import validate
from foodclf.contracts.loadtest import SCHEMA_VERSION, LoadTest


def capacity_rows(rates=(6.0, 7.2, 7.45, 7.5, 7.5), cpu_per_rate=0.26, rss=900.0) -> list[dict]:
    return [{"users": u, "transaction_rate": r, "response_time_s": u / r, "p50_s": None, "p95_s": None, "p99_s": None,
             "failures": 0, "cpu_cores": round(r * cpu_per_rate, 3), "pss_mb": rss, "pss_mb_peak": None,
             "client_cpu_cores": None}
            for u, r in zip((1, 2, 4, 8, 16), rates)]


def loadtest_doc(stages: list[dict], capacity: list[dict] | None = None, model: str = "tiny") -> dict:
    """A complete loadtest.json (foodclf.contracts.loadtest) with these stages and capacity levels."""
    def stage(i, s):
        return {"index": i, "users": s["users"], "delay_s": s["delay_s"], "duration_s": s["duration_s"],
                "successes": s.get("successes", 100), "failures": 0, "availability": 1.0,
                "transaction_rate": s["transaction_rate"], "response_time_s": s["response_time_s"],
                "p50_s": None, "p95_s": None, "p99_s": None, "longest_s": None, "cpu_cores": None, "pss_mb": None,
                "pss_mb_peak": None, "client_cpu_cores": None, "errors": {}}
    rows = [stage(i, s) for i, s in enumerate(stages, start=1)]
    overall = {k: v for k, v in rows[0].items() if k not in ("index", "users", "delay_s")}
    doc = {"schema_version": SCHEMA_VERSION, "created": "2026-11-29T07:00:00+00:00", "url": "http://127.0.0.1:8080/predictions/tiny",
           "model": model, "image": "photo.jpg", "mode": "capacity" if capacity else "fixed", "profile": None,
           "time_scale": 1.0, "request_timeout_s": 30.0, "stages": rows, "overall": overall,
           "server": {"cpu_cores_mean": 1.0, "cpu_cores_max": 2.0, "pss_mb_mean": 900.0, "pss_mb_peak": 950.0,
                      "rss_mb_peak": 1100.0, "uss_mb_peak": 800.0, "samples": 10, "pids": [1], "peak_processes": []},
           "timeseries_csv": None}
    if capacity:
        doc["capacity"] = capacity
    return doc


def loadtest(stages: list[dict], capacity: list[dict] | None = None) -> LoadTest:
    return validate(loadtest_doc(stages, capacity), LoadTest, "test")


def write_capacity_loadtest(path: Path, rows: list[dict], model: str = "tiny") -> Path:
    """A capacity-mode loadtest.json at ``path``, written through foodclf.contracts.loadtest."""
    stages = [{"duration_s": 30.0, "users": r["users"], "delay_s": 0.0, "transaction_rate": r["transaction_rate"],
               "response_time_s": r["response_time_s"]} for r in rows]
    return contracts.write(path, validate(loadtest_doc(stages, rows, model), LoadTest, str(path)))
