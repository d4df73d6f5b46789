"""Reloading a finished run: its model, its data, its metrics."""

from pathlib import Path
from typing import Optional, Tuple


from dsgdn_pyg.errors import DataError
from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN, ModelConfig
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.trainer import SplitMetrics, evaluate, resolve_device

SPLITS = ("train", "valid", "test")


def load_model(run_dir, device: str = "cpu") -> Tuple[AMBDSGDN, dict]:
    """The best checkpoint of a run as an :class:`AMBDSGDN` in eval mode,
    and the run's configuration (``model``, ``train``, ``data``)."""
    payload = files.load_checkpoint(Path(run_dir))
    try:
        model = AMBDSGDN(ModelConfig(**payload["model"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise DataError(
            f"{Path(run_dir) / files.CHECKPOINT}: not a dsgdn-pyg checkpoint "
            f"({str(exc).splitlines()[0]})") from None
    config = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.to(resolve_device(device)).eval(), config


def load_run_corpus(config: dict, data: Optional[str] = None):
    """The corpus a run was trained on (or :obj:`data` read the same way),
    with the run's window, modalities and validation split."""
    from dsgdn_pyg.data.corpus import load_corpus

    train = config["train"]
    extra = train.get("extra", {})
    source = data if data is not None else config["data"]["source"]
    corpus = load_corpus(source, window=train["window"],
                         modalities=list(config["model"]["input_dims"]),
                         seed=extra.get("split_seed", 0),
                         valid_fraction=extra.get("valid_fraction", 0.1),
                         synthetic_config=extra.get("synthetic"),
                         classes=config["data"]["classes"],
                         classes_by="the checkpoint")
    corpus.check_dims(config["model"]["input_dims"], "the checkpoint",
                      "evaluate it on data with the widths it was trained on")
    return corpus


def evaluate_run(run_dir, data: Optional[str] = None, split: str = "test",
                 device: str = "cpu", noise: float = 0.0, noise_seed: int = 0,
                 min_length: Optional[int] = None,
                 max_length: Optional[int] = None
                 ) -> Tuple[SplitMetrics, dict]:
    """Reloads a run's best checkpoint and measures it on one split
    (optionally with test-time feature noise or only on the dialogues of
    a length range, see :func:`evaluate_condition`)."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    model, config = load_model(run_dir, device)
    corpus = load_run_corpus(config, data)
    metrics = evaluate_condition(model, config, corpus, split, noise=noise,
                                 noise_seed=noise_seed,
                                 min_length=min_length, max_length=max_length)
    return metrics, config


def evaluate_condition(model, config: dict, corpus, split: str = "test",
                       noise: float = 0.0, noise_seed: int = 0,
                       min_length: Optional[int] = None,
                       max_length: Optional[int] = None,
                       feature_scale: Optional[dict] = None) -> SplitMetrics:
    """Metrics of a loaded model on a split of its corpus, on the dialogues
    of ``min_length``-``max_length`` utterances, with Gaussian noise of
    ``noise`` x each feature's training-split std added at test time
    (seeded by :obj:`noise_seed`; :obj:`feature_scale` passes those stds
    when already computed)."""
    from dsgdn_pyg.training import conditions

    graphs = conditions.filter_lengths(getattr(corpus, split), min_length,
                                       max_length)
    if noise:
        scale = feature_scale or conditions.feature_std(
            corpus.train, list(config["model"]["input_dims"]))
        graphs = conditions.add_feature_noise(graphs, scale, noise,
                                              noise_seed)
    return evaluate(model, graphs, next(model.parameters()).device,
                    batch_size=config["train"]["batch_size"])
