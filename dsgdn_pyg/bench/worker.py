"""Runs one benchmark case in a fresh process:
``python -m dsgdn_pyg.bench.worker`` reads ``{"workload": ..., "config":
..., "device": ...}`` as JSON on stdin and prints the case's record as one
JSON line on stdout."""

import json
import sys

import torch

from dsgdn_pyg.bench.suite import BenchConfig, Workload, run_workload


def main() -> None:
    payload = json.loads(sys.stdin.read())
    config = BenchConfig(**payload["config"])
    workload = Workload(**payload["workload"])
    record = run_workload(workload, config, torch.device(payload["device"]))
    sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
