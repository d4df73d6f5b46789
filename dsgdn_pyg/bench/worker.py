"""Runs one benchmark case in a fresh process:
``python -m dsgdn_pyg.bench.worker`` reads ``{"workload": ..., "config":
..., "device": ...}`` (the block suite) or ``{"suite": "layers", "case":
..., "config": ..., "device": ...}`` (the layer suite) as JSON on stdin and
prints the case's record as one JSON line on stdout."""

import json
import sys

import torch

from dsgdn_pyg.bench.suite import BenchConfig, Workload, run_workload


def main() -> None:
    payload = json.loads(sys.stdin.read())
    if payload.get("suite") == "layers":
        from dsgdn_pyg.bench.layer_suite import LayerSuiteConfig, run_case
        record = run_case(payload["case"],
                          LayerSuiteConfig(**payload["config"]),
                          torch.device(payload["device"]))
        sys.stdout.write(json.dumps(record) + "\n")
        return
    config = BenchConfig(**payload["config"])
    workload = Workload(**payload["workload"])
    record = run_workload(workload, config, torch.device(payload["device"]))
    sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
