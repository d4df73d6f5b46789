"""The end-to-end line of the benchmark: one training epoch of the full
AMB-DSGDN model on IEMOCAP-shaped synthetic dialogues, with the sparse
DiffRGCN blocks against the same model with the dense blocks, which build
their padded relation adjacency per batch (``graph_layer="dense"``). The same
model without graph blocks (``graph_layer="none"``) is timed too, as the
share of the epoch that neither layout changes."""

from typing import Optional

import torch

from dsgdn_pyg.bench.measure import Timer

#: Graph layers timed end to end, and their names in the results.
E2E_LAYERS = {"sparse": "diff", "dense": "dense", "no_graph": "none"}
#: Dialogue lengths of the synthetic corpus: the range of IEMOCAP's
#: training split (8-94 utterances).
MIN_LENGTH, MAX_LENGTH = 8, 94
WINDOW = 20
BATCH_SIZE = 16


def e2e_corpus(num_dialogues: int, seed: int = 0):
    """Synthetic dialogues with IEMOCAP's feature widths, classes, speakers
    and training-split length range, graphs of window 20."""
    from dsgdn_pyg.data.corpus import load_corpus
    from dsgdn_pyg.data.synthetic import SyntheticConfig

    synthetic = SyntheticConfig(num_dialogues=num_dialogues,
                                min_len=MIN_LENGTH, max_len=MAX_LENGTH,
                                seed=seed)
    return load_corpus(None, window=WINDOW, synthetic_config=synthetic,
                       seed=seed)


def run_e2e(config, device: torch.device) -> dict:
    """Times :obj:`config.e2e_epochs` training epochs of each model, in
    turn (after one that measures the peak memory), with the IEMOCAP preset at
    hidden size :obj:`config.channels` and :obj:`config.heads` graph heads
    (512 and 2 by default, the published model); returns the record, with
    ``status="pending"`` and what is missing when the model or the data
    layer cannot be imported."""
    try:
        from torch_geometric.loader import DataLoader

        from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
        from dsgdn_pyg.models import AMBDSGDN, preset_config
        from dsgdn_pyg.training.config import RECIPES
    except ImportError as exc:
        return dict(status="pending", note=f"needs the full model and data "
                    f"layer: {exc}")

    corpus = e2e_corpus(config.e2e_dialogues, config.seed)
    graphs = corpus.train
    lengths = [g[NODE_TYPE].num_nodes for g in graphs]
    recipe = RECIPES["iemocap"]
    record = dict(status="ok", dialogues=len(graphs),
                  utterances=sum(lengths), window=WINDOW,
                  batch_size=BATCH_SIZE, min_length=min(lengths),
                  max_length=max(lengths), lr=recipe["lr"])
    timer = Timer(device)
    models = {}
    for name, graph_layer in E2E_LAYERS.items():
        torch.manual_seed(config.seed)
        cfg = preset_config("iemocap", graph_layer=graph_layer,
                            hidden=config.channels,
                            graph_heads=config.heads,
                            input_dims=dict(corpus.modality_dims),
                            num_classes=len(corpus.classes),
                            num_speakers=max(2, corpus.num_speakers))
        models[name] = AMBDSGDN(cfg).to(device)
    # The same weights in both, and the same outputs before anything runs.
    models["dense"].load_state_dict(models["sparse"].state_dict())
    record["max_abs_diff"] = _agreement(
        {k: models[k] for k in ("sparse", "dense")}, graphs[:BATCH_SIZE],
        device, DataLoader)
    class_weight = torch.tensor(recipe["class_weights"], device=device)
    epochs = {name: _epoch(model, graphs, recipe, class_weight, config.seed,
                           device, DataLoader)
              for name, model in models.items()}
    measured = timer.measure_side_by_side(epochs, config.e2e_epochs, 0,
                                          record["utterances"])
    record["results"] = {name: m.to_dict() for name, m in measured.items()}
    return record


def _epoch(model, graphs, recipe, class_weight, seed, device, loader_cls):
    """One training epoch of :obj:`model` as the trainer runs it (its Adam
    and batch loop, batches of 16 shuffled by :obj:`seed`, no modality
    dropout: the warm-up epochs), as a closure."""
    from dsgdn_pyg.training.trainer import make_adam, train_epoch

    optimizer = make_adam(model.parameters(), recipe["lr"],
                          recipe["weight_decay"], device)
    loader = loader_cls(graphs, batch_size=BATCH_SIZE, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))

    def epoch():
        model.train()
        train_epoch(model, loader, optimizer, device, class_weight)

    return epoch


def _agreement(models, graphs, device, loader_cls) -> Optional[float]:
    batch = next(iter(loader_cls(graphs, batch_size=len(graphs)))).to(device)
    with torch.no_grad():
        outs = []
        for model in models.values():
            model.eval()
            outs.append(model(batch).log_probs)
    diff = float((outs[0] - outs[1]).abs().max())
    if not diff < 1e-3:
        raise RuntimeError(f"bench: the sparse and dense models disagree "
                           f"end to end (max abs difference {diff:.3g})")
    return diff
