"""The ``overhead`` experiment (the paper's Table 8): inference time per
utterance, throughput, training batch time and FLOPs of one configuration,
timed with the benchmark's :class:`~dsgdn_pyg.bench.measure.Timer` on the
experiment's data (an untrained model: time does not depend on the
weights)."""

import random
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from torch_geometric.loader import DataLoader

from dsgdn_pyg.bench.measure import Timer
from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.training import run_dir as files

REPEATS = 3


def measure_task(task: dict) -> dict:
    """Measures the task's cell with its seed and writes ``overhead.json``
    (the timings, and the configuration measured)."""
    from dsgdn_pyg.data.corpus import load_corpus
    from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN
    from dsgdn_pyg.training.config import recipe_config
    from dsgdn_pyg.training.session import (build_model_config,
                                            request_from_options)
    from dsgdn_pyg.training.device import (resolve_device, seed_everything,
                                           to_device)
    from dsgdn_pyg.training.trainer import make_adam, train_epoch

    request = request_from_options(task["settings"], seeds=[task["seed"]],
                                   out=Path(task["overhead"]).parent)
    train = recipe_config(request.preset, synthetic=request.data is None,
                          **request.train_overrides)
    corpus = load_corpus(request.data, window=train.window,
                         modalities=list(request.modalities),
                         seed=request.split_seed,
                         valid_fraction=request.valid_fraction,
                         synthetic_config=request.synthetic)
    model_config = build_model_config(request, corpus)
    device = resolve_device(request.device)
    seed_everything(task["seed"])
    model = AMBDSGDN(model_config).to(device)
    batches = [to_device(b, device) for b in
               DataLoader(corpus.test, batch_size=train.batch_size)]
    utterances = sum(b[NODE_TYPE].num_nodes for b in batches)
    train_loader = DataLoader(corpus.train, batch_size=train.batch_size,
                              shuffle=True, generator=torch.Generator()
                              .manual_seed(task["seed"]))
    optimizer = make_adam(model.parameters(), train.lr, train.weight_decay,
                          device)
    draw = random.Random(task["seed"])

    @torch.no_grad()
    def inference():
        model.eval()
        for batch in batches:
            model(batch)

    def training_epoch():
        model.train()
        train_epoch(model, train_loader, optimizer, device, None,
                    balance=model_config.modality_dropout, generator=draw)

    timer = Timer(device)
    infer = timer.measure(inference, REPEATS, 1, utterances)
    epoch = timer.measure(training_epoch, REPEATS, 0,
                          sum(g[NODE_TYPE].num_nodes for g in corpus.train))
    with FlopCounterMode(display=False) as counter:
        inference()
    flops = counter.get_total_flops()
    seconds = infer.median_ms / 1e3
    record = dict(
        inference_ms_per_utterance=infer.median_ms / utterances,
        throughput_utterances_per_s=utterances / seconds,
        batch_ms=epoch.median_ms / max(len(train_loader), 1),
        gflop_per_utterance=flops / utterances / 1e9,
        tflop_per_s=flops / seconds / 1e12,
        test_utterances=utterances, batches=len(batches),
        device=str(device), torch_threads=torch.get_num_threads(),
        inference=infer.to_dict(), training_epoch=epoch.to_dict(),
        graph_layer=model_config.graph_layer,
        modality_dropout=model_config.modality_dropout,
        # What was measured, to tell a measurement of other settings.
        request=request.to_dict(),
        data=dict(path=None if request.data is None else
                  str(Path(request.data).resolve())))
    files.write_json(Path(task["overhead"]), record)
    return record
