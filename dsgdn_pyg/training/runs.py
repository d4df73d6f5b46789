"""Reloading a finished run: its model, its data, its metrics.

A run of several seeds (``dsgdn train --seeds 1,2,3``) keeps one run per
seed in ``seed-<n>/``: :func:`evaluate_seeds` measures each of them; what
needs one model (:func:`load_model`: ``dsgdn predict``, ``dsgdn
attention``) says which seeds there are to choose from.
"""

from pathlib import Path
from typing import List, Optional, Tuple


from dsgdn_pyg.errors import DataError
from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN, ModelConfig
from dsgdn_pyg.training import checkpoint
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.run_dir import (  # noqa: F401
    requested_seeds, seed_runs)
from dsgdn_pyg.training.device import resolve_device
from dsgdn_pyg.training.evaluation import SplitMetrics, evaluate
from dsgdn_pyg.training.evaluation_options import (  # noqa: F401
    SPLITS, check_split)


def several_seeds_error(run_dir, seeds: List[Tuple[int, Path]]) -> DataError:
    names = ", ".join(str(s) for s, _ in seeds)
    return DataError(f"{run_dir}: a run of several seeds ({names}); expected "
                     f"one seed's directory, e.g. {seeds[0][1]}")


def load_model(run_dir, device: str = "cpu") -> Tuple[AMBDSGDN, dict]:
    """The best checkpoint of a run as an :class:`AMBDSGDN` in eval mode,
    and the run's configuration (``model``, ``train``, ``data``). A run of
    several seeds is a one-line error naming them."""
    seeds = seed_runs(run_dir)
    if seeds:
        raise several_seeds_error(run_dir, seeds)
    payload = files.load_checkpoint(Path(run_dir))
    try:
        model = AMBDSGDN(ModelConfig(**payload["model"]))
        model.load_state_dict(checkpoint.weights(payload))
    except (KeyError, TypeError, RuntimeError) as exc:
        raise DataError(
            f"{Path(run_dir) / files.CHECKPOINT}: not a dsgdn-pyg checkpoint "
            f"({str(exc).splitlines()[0]})") from None
    config = {k: v for k, v in payload.items() if k != checkpoint.WEIGHTS}
    return model.to(resolve_device(device)).eval(), config


def load_run_corpus(config: dict, data: Optional[str] = None):
    """The corpus a run was trained on (or :obj:`data` read the same way),
    with the run's window, modalities and validation split. The run's data
    is read from the absolute path it recorded (runs that recorded none:
    their source, relative to the working directory)."""
    from dsgdn_pyg.data.corpus import load_corpus

    train = config["train"]
    extra = train.get("extra", {})
    recorded = config["data"].get("path")
    source = data if data is not None else \
        recorded or config["data"]["source"]
    corpus = load_corpus(source, window=train["window"],
                         modalities=list(config["model"]["input_dims"]),
                         seed=extra.get("split_seed", 0),
                         valid_fraction=extra.get("valid_fraction", 0.1),
                         synthetic_config=extra.get("synthetic"),
                         classes=config["data"]["classes"],
                         classes_by="the checkpoint")
    corpus.check_dims(config["model"]["input_dims"], "the checkpoint",
                      "evaluate it on data with the widths it was trained on")
    own = data is None or recorded is not None and \
        Path(data).resolve() == Path(recorded)
    _check_extractors(config, corpus, own=own)
    return corpus


def _check_extractors(config: dict, corpus, own: bool) -> None:
    # A folder of `dsgdn features` records how each modality was extracted
    # (features.json), and so does the run, from its training data: the
    # same widths from another model, or the run's own folder extracted
    # again from another manifest, would be measured silently. Data that
    # records nothing (bundles, older folders) cannot be checked.
    from dsgdn_pyg.features.store import FEATURES_JSON, FINGERPRINT
    from dsgdn_pyg.features.text import resolve_text_model

    def same(key: str, old, new) -> bool:
        # A model's name and the folder it loads from are one model (the
        # bundled all-MiniLM-L6-v2 and its package's path).
        if key == "model" and isinstance(old, str) and isinstance(new, str):
            return resolve_text_model(old) == resolve_text_model(new)
        return old == new

    recorded = config["data"].get("extractors") or {}
    current = getattr(corpus, "extractors", None) or {}
    for modality in config["model"]["input_dims"]:
        old, new = recorded.get(modality), current.get(modality)
        if not isinstance(old, dict) or not isinstance(new, dict):
            continue
        skip = {"file"} if own else {"file", FINGERPRINT}  # other data
        for key in sorted(set(old) & set(new) - skip):
            if same(key, old[key], new[key]):
                continue
            what = ("extracted again from other dialogues since the run "
                    "was trained" if key == FINGERPRINT else
                    f"{key} {new[key]!r}, the run's was {old[key]!r}")
            raise DataError(
                f"{corpus.where}/{FEATURES_JSON}: the {modality} features "
                f"differ from those the run was trained on ({what}); "
                f"expected data extracted as the run's was")


def evaluate_run(run_dir, data: Optional[str] = None, split: str = "test",
                 device: str = "cpu", noise: float = 0.0, noise_seed: int = 0,
                 min_length: Optional[int] = None,
                 max_length: Optional[int] = None
                 ) -> Tuple[SplitMetrics, dict]:
    """Reloads a run's best checkpoint and measures it on one split
    (optionally with test-time feature noise or only on the dialogues of
    a length range, see :func:`evaluate_condition`)."""
    check_split(split)
    model, config = load_model(run_dir, device)
    corpus = load_run_corpus(config, data)
    metrics = evaluate_condition(model, config, corpus, split, noise=noise,
                                 noise_seed=noise_seed,
                                 min_length=min_length, max_length=max_length)
    return metrics, config


def evaluate_seeds(run_dir, data: Optional[str] = None, split: str = "test",
                   device: str = "cpu", noise: float = 0.0,
                   noise_seed: int = 0, min_length: Optional[int] = None,
                   max_length: Optional[int] = None
                   ) -> List[Tuple[int, Path, SplitMetrics, dict]]:
    """:func:`evaluate_run` of every seed of a run of several seeds that
    has a checkpoint (``[(seed, directory, metrics, config)]``; the data is
    read once); a one-seed run gives one entry (seed from its
    checkpoint)."""
    check_split(split)
    seeds = seed_runs(run_dir)
    if not seeds:
        metrics, config = evaluate_run(run_dir, data, split, device, noise,
                                       noise_seed, min_length, max_length)
        return [(config["train"]["seed"], Path(run_dir), metrics, config)]
    ready = [(s, p) for s, p in seeds if (p / files.CHECKPOINT).is_file()]
    if not ready:
        raise DataError(f"{run_dir}: a run of seeds "
                        f"{', '.join(str(s) for s, _ in seeds)}, none with a "
                        f"checkpoint yet (expected {files.CHECKPOINT} in "
                        f"{seeds[0][1]})")
    out, corpus = [], None
    for seed, path in ready:
        model, config = load_model(path, device)
        if corpus is None:
            corpus = load_run_corpus(config, data)
        metrics = evaluate_condition(model, config, corpus, split,
                                     noise=noise, noise_seed=noise_seed,
                                     min_length=min_length,
                                     max_length=max_length)
        out.append((seed, path, metrics, config))
    return out


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
