"""The positive, negative and differential attention of a trained run's
DiffRGCN blocks over one dialogue (the paper's Sec. 4.5 and its Fig. 1
discussion): for each modality, the inter-speaker block then the
intra-speaker block, each map averaged over the block's differential heads.
"""

from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.training.runs import load_model, load_run_corpus
from dsgdn_pyg.training.device import to_device

MAPS = ("positive", "negative", "differential")


def find_dialogue(corpus, dialogue_id: str):
    """The graph and split of a dialogue of the corpus, by id."""
    for split in ("train", "valid", "test"):
        for graph in getattr(corpus, split):
            if str(graph.dialogue_id) == str(dialogue_id):
                return graph, split
    some = [str(g.dialogue_id) for g in corpus.test[:3]]
    raise ValueError(f"DIALOGUE_ID: no dialogue {dialogue_id!r} in the run's "
                     f"data; expected an id such as {', '.join(some)}")


@torch.no_grad()
def dialogue_attention(run_dir, dialogue_id: str) -> dict:
    """``{"blocks": [{modality, block, positive, negative, differential}],
    "utterances": [...], "split": ...}`` with ``[N, N]`` maps (row: the
    target utterance, column: the source it attends to; 0 where there is no
    edge)."""
    model, config = load_model(run_dir)
    if config["model"]["graph_layer"] != "diff":
        raise ValueError(f"RUN_DIR: the run's graph layer is "
                         f"{config['model']['graph_layer']!r}; attention maps "
                         f"need a DiffRGCN run (graph layer 'diff')")
    corpus = load_run_corpus(config)
    graph, split = find_dialogue(corpus, dialogue_id)
    captured = {}
    hooks = []
    for kind, blocks in (("inter", model.inter_blocks),
                         ("intra", model.intra_blocks)):
        for m in model.modalities:
            hooks.append(blocks[m].register_forward_pre_hook(
                lambda module, args, key=(m, kind): captured.__setitem__(
                    key, args)))
    batch = to_device(next(iter(DataLoader([graph], batch_size=1))),
                      torch.device("cpu"))
    try:
        model.encode(batch)
    finally:
        for hook in hooks:
            hook.remove()
    n = graph[NODE_TYPE].num_nodes
    blocks_out = []
    for m in model.modalities:
        for kind, blocks in (("inter", model.inter_blocks),
                             ("intra", model.intra_blocks)):
            x, edge_index, edge_type, _ = captured[(m, kind)]
            conv = blocks[m].block.conv
            _, (index, alpha) = conv(x, edge_index, edge_type=edge_type,
                                     return_attention_weights=True)
            maps = dict(positive=conv.alpha_pos, negative=conv.alpha_neg,
                        differential=alpha)
            entry = dict(modality=m, block=kind,
                         lam=conv.differential_lambda().tolist())
            for name, values in maps.items():
                dense = np.zeros((n, n))
                dense[index[1].numpy(), index[0].numpy()] = \
                    values.mean(-1).numpy()
                entry[name] = dense
            blocks_out.append(entry)
    return dict(dialogue_id=str(dialogue_id), split=split,
                blocks=blocks_out, utterances=_utterances(graph, corpus))


def _utterances(graph, corpus) -> List[str]:
    store = graph[NODE_TYPE]
    vocab = corpus.speaker_vocab
    out = []
    for i, (spk, y) in enumerate(zip(store.speaker.tolist(),
                                     store.y.tolist())):
        name = vocab[spk] if vocab and spk < len(vocab) else f"s{spk}"
        out.append(f"{i} {name} {corpus.classes[y]}")
    return out


def plot_attention(maps: Dict, path: Path) -> None:
    """One row per block (modality x inter/intra), columns positive,
    negative, differential; utterance index, speaker and label on both
    axes, written as PNG, PDF or SVG by :obj:`path`'s suffix. Needs
    matplotlib (the ``bench`` extra)."""
    from dsgdn_pyg.experiments.plots import (figure_format,
                                             require_matplotlib, save_figure)
    file_format = figure_format(path)
    plt = require_matplotlib()
    blocks = maps["blocks"]
    labels = maps["utterances"]
    n = len(labels)
    size = min(max(4.0, 0.14 * n), 12.0)
    fig, axes = plt.subplots(len(blocks), 3, squeeze=False,
                             figsize=(3 * size, len(blocks) * size * 0.9))
    font = max(3, min(8, int(400 / max(n, 1))))
    for row, block in zip(axes, blocks):
        for ax, name in zip(row, MAPS):
            values = block[name]
            limit = np.abs(values).max() or 1.0
            cmap = "RdBu_r" if name == "differential" else "Blues"
            image = ax.imshow(values, cmap=cmap,
                              vmin=-limit if name == "differential" else 0,
                              vmax=limit)
            ax.set_title(f"{block['modality']} {block['block']}-speaker "
                         f"block: {name}", fontsize=9)
            ax.set_xticks(range(n), labels, fontsize=font, rotation=90)
            ax.set_yticks(range(n), labels, fontsize=font)
            ax.set_xlabel("source utterance (attended)", fontsize=8)
            ax.set_ylabel("target utterance", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"dialogue {maps['dialogue_id']} ({maps['split']} split): "
                 f"attention of the differential heads (mean over heads)",
                 fontsize=11)
    save_figure(plt, fig, path, dpi=100, format=file_format)
