"""The dialogue manifest: JSON Lines, one dialogue per line.

Each line is ``{"dialogue_id": ..., "split": "train"|"valid"|"test",
"utterances": [{"speaker": ..., "text": ..., "audio": "a.wav",
"visual": "v.npy", "label": ...}, ...]}``; ``split`` (default ``"train"``),
``audio``, ``visual`` and ``label`` are optional. Relative paths are relative
to the manifest's folder. :func:`read_manifest` checks everything up front so
that a long extraction never dies half-way on a typo; every problem is a
one-line :class:`~dsgdn_pyg.errors.DataError` naming the file, the dialogue,
the utterance (0-based, the row of its feature array) and the field.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import path_problem

SPLITS = ("train", "valid", "test")
DIALOGUE_FIELDS = ("dialogue_id", "split", "utterances")
UTTERANCE_FIELDS = ("speaker", "text", "audio", "visual", "label")

Label = Union[str, int]
PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class Utterance:
    """One turn: who spoke, what was said, where its audio and visual inputs
    are (absolute paths) and its emotion (a name, a class index or None)."""

    speaker: str
    text: str
    audio: Optional[Path] = None
    visual: Optional[Path] = None
    label: Optional[Label] = None


@dataclass(frozen=True)
class Dialogue:
    """A conversation: its id, its utterances in order and its split."""

    dialogue_id: str
    utterances: Tuple[Utterance, ...]
    split: str = "train"

    def __len__(self) -> int:
        return len(self.utterances)


def describe(value: Any) -> str:
    """How a JSON value reads in an error message: its JSON type, and the
    value itself when it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(text)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}" \
            if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def location(source: str, dialogue_id: Optional[str] = None,
             utterance: Optional[int] = None,
             line: Optional[int] = None) -> str:
    """``"file: dialogue 'd', utterance i"`` (or ``"file: line n"`` before
    the dialogue id is known), the prefix of every manifest error."""
    parts = []
    if dialogue_id is not None:
        parts.append(f"dialogue {dialogue_id!r}")
    elif line is not None:
        parts.append(f"line {line}")
    if utterance is not None:
        parts.append(f"utterance {utterance}")
    return f"{source}: " + ", ".join(parts) if parts else source


class _Reader:
    """Validates one manifest; keeps what later lines are checked against
    (ids seen, the kind of label in use)."""

    def __init__(self, path: Path, source: str, check_files: bool):
        self.root = path.parent
        self.source = source
        self.check_files = check_files
        self.seen: Dict[str, int] = {}
        self.label_kind: Optional[Tuple[type, str]] = None

    def error(self, where: str, field: str, value: Any, missing: bool,
              expected: str) -> DataError:
        what = "is missing" if missing else f"is {describe(value)}"
        return DataError(f"{where}: field {field!r} {what}; expected "
                         f"{expected}")

    def dialogue(self, obj: Any, line: int) -> Dialogue:
        where = location(self.source, line=line)
        if not isinstance(obj, dict):
            raise DataError(f"{where}: the line is {describe(obj)}; expected "
                            f"a JSON object with a 'dialogue_id' and "
                            f"'utterances'")
        raw_id = obj.get("dialogue_id")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        # An id names the dialogue's member of each .npz archive: a zip
        # name stops at a NUL, and no control character belongs in one.
        if not isinstance(raw_id, str) or not raw_id.strip() or \
                any(c < " " or c == "\x7f" for c in raw_id):
            raise self.error(where, "dialogue_id", raw_id,
                             "dialogue_id" not in obj,
                             "a non-empty string without control characters "
                             "(or an integer)")
        dialogue_id = raw_id
        where = location(self.source, dialogue_id)
        if dialogue_id in self.seen:
            raise DataError(f"{where}: duplicate dialogue id on line {line} "
                            f"(first on line {self.seen[dialogue_id]}); "
                            f"expected every dialogue_id once")
        self.seen[dialogue_id] = line
        self.unknown_fields(where, obj, DIALOGUE_FIELDS)
        split = obj.get("split", "train")
        if split not in SPLITS:
            raise self.error(where, "split", split, False,
                             "one of " + ", ".join(map(repr, SPLITS)))
        items = obj.get("utterances")
        if not isinstance(items, list) or not items:
            raise self.error(where, "utterances", items,
                             "utterances" not in obj,
                             "a non-empty list of utterance objects")
        utterances = tuple(self.utterance(item, dialogue_id, i)
                           for i, item in enumerate(items))
        return Dialogue(dialogue_id, utterances, split)

    def unknown_fields(self, where: str, obj: dict, known: tuple) -> None:
        for key in obj:
            if key not in known:
                raise DataError(f"{where}: unknown field {key!r}; expected "
                                f"only " + ", ".join(known))

    def utterance(self, obj: Any, dialogue_id: str, index: int) -> Utterance:
        where = location(self.source, dialogue_id, index)
        if not isinstance(obj, dict):
            raise DataError(f"{where}: the utterance is {describe(obj)}; "
                            f"expected an object with 'speaker' and 'text'")
        self.unknown_fields(where, obj, UTTERANCE_FIELDS)
        speaker = obj.get("speaker")
        if isinstance(speaker, int) and not isinstance(speaker, bool):
            speaker = str(speaker)
        if not isinstance(speaker, str) or not speaker.strip():
            raise self.error(where, "speaker", speaker, "speaker" not in obj,
                             "a non-empty string (or an integer)")
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise self.error(where, "text", text, "text" not in obj,
                             "a non-empty string")
        return Utterance(speaker=speaker, text=text,
                         audio=self.file(obj, "audio", where),
                         visual=self.file(obj, "visual", where),
                         label=self.label(obj.get("label"), where))

    def file(self, obj: dict, field: str, where: str) -> Optional[Path]:
        value = obj.get(field)
        if value is None:
            return None
        kind = "a WAV file" if field == "audio" else "a .npy file"
        if not isinstance(value, str) or not value.strip():
            raise self.error(where, field, value, False,
                             f"the path of {kind}")
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.root / path
        path = Path(os.path.abspath(path))
        if self.check_files:
            problem = path_problem(path)
            if problem:
                raise DataError(f"{where}: field {field!r}: {path}: "
                                f"{problem}; expected the path of {kind}")
            if not os.access(path, os.R_OK):
                raise DataError(f"{where}: field {field!r}: {path} is not "
                                f"readable; expected the path of {kind}")
        return path

    def label(self, value: Any, where: str) -> Optional[Label]:
        if value is None:
            return None
        if isinstance(value, str) and value.strip():
            kind = str
        elif (isinstance(value, int) and not isinstance(value, bool)
              and value >= 0):
            kind = int
        else:
            raise self.error(where, "label", value, False,
                             "an emotion name, a class index >= 0 or null")
        if self.label_kind is None:
            self.label_kind = (kind, where)
        elif self.label_kind[0] is not kind:
            first_kind, first_where = self.label_kind
            names = {str: "a name", int: "a class index"}
            raise DataError(f"{where}: field 'label' is {names[kind]} but "
                            f"the first label ({first_where}) is "
                            f"{names[first_kind]}; expected all labels of "
                            f"a manifest to be names or all class indices")
        return value


def check_classes(classes: Sequence[str], name: str = "classes"
                  ) -> List[str]:
    """``classes`` as a list; raises :class:`ValueError`, naming the option
    ``name``, unless they are distinct non-empty names."""
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes) or not all(
            isinstance(c, str) and c.strip() for c in classes):
        raise ValueError(f"{name}: expected distinct non-empty class names, "
                         f"got {classes!r}")
    return classes


def read_manifest(path: PathLike, check_files: bool = True
                  ) -> List[Dialogue]:
    """Reads and validates a JSON Lines dialogue manifest.

    Blank lines are skipped. With ``check_files``, every ``audio`` and
    ``visual`` path must name a readable file (their contents are checked
    when the features are extracted). Raises
    :class:`~dsgdn_pyg.errors.DataError` on the first problem.
    """
    path = Path(path)
    source = str(path)
    problem = path_problem(path)
    if problem and problem != "no such file":  # /dev/zero would never end
        raise DataError(f"{source}: {problem}; expected a JSON Lines file "
                        f"with one dialogue per line")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{source}: no such manifest file; expected a JSON "
                        f"Lines file with one dialogue per line") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise DataError(f"{source}: cannot read the manifest "
                        f"({exc.strerror}); expected a readable JSON Lines "
                        f"file") from None
    reader = _Reader(path, source, check_files)
    dialogues = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{source}: line {number}: not valid UTF-8; "
                            f"expected UTF-8 encoded JSON") from None
        if number == 1:
            text = text.lstrip("\ufeff")
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: line {number}: invalid JSON "
                            f"({exc.msg} at column {exc.colno}); expected "
                            f"one JSON object per line") from None
        dialogues.append(reader.dialogue(obj, number))
    if not dialogues:
        raise DataError(f"{source}: the manifest holds no dialogues; "
                        f"expected one JSON object per line")
    return dialogues
