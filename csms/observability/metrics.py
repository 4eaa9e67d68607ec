"""Prometheus metrics of this process, in the text exposition format, without a client library.

Counters and histograms live in this process (scrape each server process, or read the totals through the proxy
as a sample); gauges about the whole fleet are read from the database at scrape time (``views.metrics``).
"""

import threading
from collections import defaultdict

_lock = threading.Lock()


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{str(value).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for key, value in sorted(labels.items()))
    return "{" + inner + "}"


class Counter:
    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self.values: dict[tuple, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with _lock:
            self.values[key] += amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with _lock:
            lines += [f"{self.name}{_labels(dict(key))} {value:g}" for key, value in sorted(self.values.items())]
        return lines


class Histogram:
    BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self.series: dict[tuple, list] = {}

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with _lock:
            counts = self.series.setdefault(key, [[0] * len(self.BUCKETS), 0, 0.0])
            for index, bound in enumerate(self.BUCKETS):
                if seconds <= bound:
                    counts[0][index] += 1
            counts[1] += 1
            counts[2] += seconds

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with _lock:
            for key, (buckets, count, total) in sorted(self.series.items()):
                labels = dict(key)
                lines += [f"{self.name}_bucket{_labels({**labels, 'le': f'{bound:g}'})} {n}"
                          for bound, n in zip(self.BUCKETS, buckets, strict=True)]
                lines += [f"{self.name}_bucket{_labels({**labels, 'le': '+Inf'})} {count}",
                          f"{self.name}_sum{_labels(labels)} {total:g}", f"{self.name}_count{_labels(labels)} {count}"]
        return lines


def gauge(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
            *(f"{name}{_labels(labels)} {value:g}" for labels, value in samples)]


OCPP_FRAMES = Counter("csms_ocpp_frames_total", "OCPP frames received (in) and sent (out) by this process.")
OCPP_CALLS = Counter("csms_ocpp_calls_total", "Charger CALLs answered by this process, by action and outcome.")
OCPP_COMMAND_SECONDS = Histogram("csms_ocpp_command_seconds",
                                 "Time from sending a command to a charger to its answer, by outcome.")
HTTP_REQUESTS = Counter("csms_http_requests_total", "HTTP requests served by this process, by status class.")
