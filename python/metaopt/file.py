"""Reading metaopt-dist's optimizer files (docs/optimizer-file.md in the repository).

Two formats carry the same maths: the optimizer file that `metaopt-dist train` writes
(``"format": "metaopt-dist.optimizer"``, one flat ``phi`` with a tensor table) and the export
that `metaopt-dist export` writes (``"format": "metaopt-dist.optimizer-export"``, every tensor
by name). Both load into an `OptimizerSpec`.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import stat
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Dict, List, Union

import numpy as np

OPTIMIZER_FORMAT = "metaopt-dist.optimizer"
EXPORT_FORMAT = "metaopt-dist.optimizer-export"
SUPPORTED_VERSION = 1

# The Swift reader's limits (RegularFile.optimizerFileLimit, SizeLimits): a file past them is
# refused before its sizes are used, so none can make load() loop or allocate without end.
MAX_FILE_BYTES = 256 << 20
MAX_LAYERS = 64
MAX_HIDDEN_SIZE = 1 << 14
MAX_OPTIMIZERS = 64


class OptimizerFileError(ValueError):
    """A file that is not a readable metaopt-dist optimizer; the message names the problem."""


@dataclass
class LSTMLayer:
    """One LSTM layer: ``weight`` ((inputs + hidden) × 4·hidden, acting on the row vector
    [input, h_prev]) and ``bias`` (4·hidden), gate columns in the order i, f, g, o."""

    weight: np.ndarray
    bias: np.ndarray

    @property
    def hidden(self) -> int:
        return self.bias.shape[0] // 4

    @property
    def inputs(self) -> int:
        return self.weight.shape[0] - self.hidden


@dataclass
class LSTMWeights:
    """The weights of one learned optimizer: its LSTM layers, first to last, and the output map
    update = output_scale · (h_last · output_weight + output_bias)."""

    layers: List[LSTMLayer]
    output_weight: np.ndarray
    output_bias: float


@dataclass
class OptimizerSpec:
    """A learned optimizer read from a file.

    ``preprocessing`` is ``"raw"`` (one input, the gradient) or ``"log-sign"`` (two inputs, the
    paper's Appendix A with constant ``p``); ``optimizers`` holds one `LSTMWeights` per learned
    optimizer (several for the CNN: ``optimizers[0]`` acts on the convolution parameters,
    ``optimizers[1]`` on the fully connected ones). Weights are float32, as stored."""

    hidden_sizes: List[int]
    preprocessing: str
    p: float
    output_scale: float
    optimizers: List[LSTMWeights]
    metadata: Dict[str, object] = field(default_factory=dict)

    def checked_index(self, index, where: str = "") -> int:
        """``index`` as the number of one of ``optimizers``; ValueError otherwise (``where`` is put
        after the index in the message, e.g. " (for 'w')"). bool is an int to Python: True would
        pick optimizer 1; 0.5 failed as a list index and -1 would pick the last one silently."""
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise ValueError(f"the optimizer index{where} must be a whole number (got {index!r})")
        if not 0 <= index < len(self.optimizers):
            raise ValueError(f"optimizer {index}{where} does not exist: the file holds {len(self.optimizers)}")
        return int(index)


def _whole(value, what: str) -> int:
    """A JSON whole number (not a bool, not 12.7); anything else raises ValueError naming ``what``.
    An int is taken as it is: json reads 10**400 exactly, and math.isfinite would raise
    OverflowError on it (the callers' limits then refuse it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what}: {value!r:.60} is not a whole number")
    if isinstance(value, float) and not (math.isfinite(value) and value == int(value)):
        raise ValueError(f"{what}: {value!r:.60} is not a whole number")
    return int(value)


# The largest finite 32-bit float: the engines compute in float32.
_FLOAT32_MAX = 3.4028234663852886e38


def _positive(value, what: str, path: str) -> float:
    """A JSON number > 0 that a 32-bit float holds, as the Swift reader requires of p and outputScale.
    An int is compared as it is (math.isfinite raised OverflowError on 10**400, which json reads)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not (value > 0 and (isinstance(value, int) or math.isfinite(value)))):
        raise OptimizerFileError(f"{path} states no valid architecture: {what} must be positive and finite (got {value!r:.60})")
    if value > _FLOAT32_MAX:
        raise OptimizerFileError(f"{path} states no valid architecture: {what} must be positive and finite as a 32-bit float, "
                                 f"at most {_FLOAT32_MAX:.8g} (got {value!r:.60})")
    with np.errstate(under="ignore"):
        if np.float32(value) == 0:
            raise OptimizerFileError(f"{path} states no valid architecture: {what} must be positive as a 32-bit float "
                                     f"(got {value!r:.60}, which underflows one)")
    return float(value)


# The largest p of eight decimals whose e^p rounds to a finite 32-bit float (88.72283909 no longer):
# the log-sign input scales small gradients by e^p.
_LARGEST_P = 88.72283908
# The smallest p: log|g| / p stays finite as a 32-bit float for every gradient down to about 2.6e-37.
_SMALLEST_P = 1e-36


def _usable_p(p: float, path: str) -> float:
    """p, if e^p rounds to a finite 32-bit float as the Swift engine rounds it (Swift refuses the
    others: the engine's input for a zero gradient would be inf · 0 = NaN)."""
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float32(np.exp(np.float64(p)))):
            raise OptimizerFileError(f"{path} states no valid architecture: the preprocessing constant p must be at most "
                                     f"{_LARGEST_P} (e^p must be finite as a 32-bit float; got {p!r:.60})")
    if p < _SMALLEST_P:
        raise OptimizerFileError(f"{path} states no valid architecture: the preprocessing constant p must be at least "
                                 f"{_SMALLEST_P} (log|g| / p must be finite as a 32-bit float for every gradient; got {p!r:.60})")
    return p


class _Digits(float):
    """A JSON number that keeps the digits it was written with (`digits`): json's float is the
    nearest double, and rounding that to float32 rounds twice (`_rounded_once`)."""
    __slots__ = ("digits",)

    def __new__(cls, digits: str):
        value = super().__new__(cls, digits)
        value.digits = digits
        return value


class _DigitsNeeded(Exception):
    """A number's float32 depends on the digits it was written with, which the parse did not keep."""


class _NonFinite(float):
    """NaN, Infinity or -Infinity, which json reads although JSON has no such numbers: told apart
    from a number written with digits that json reads as infinite (1e400, past a double's range),
    which is finite, and beyond float32's range."""
    __slots__ = ()


class _BeyondFloat32(ValueError):
    """A finite number past float32's range (1e39) at `index` of a list, spelled `written`: the
    Swift reader refuses it as "beyond the range of a 32-bit float" and names its position."""

    def __init__(self, index: int, written: str):
        super().__init__(f"[{index}]: {written} is beyond the range of a 32-bit float")
        self.index, self.written = index, written


def _written(value) -> str:
    """A number of a file as a message names it: its digits where the parse kept them, else
    Python's spelling; a whole number of more than 40 digits in scientific notation (10**400 is
    "1.0000000000000000...e+400"), other long spellings cut."""
    if isinstance(value, _Digits):
        text = value.digits
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
        digits = text.lstrip("-")
        if len(digits) > 40:
            return f"{text[:len(text) - len(digits)]}{digits[0]}.{digits[1:17]}...e+{len(digits) - 1}"
    else:
        text = repr(float(value))
    return text if len(text) <= 40 else text[:40] + "..."


# Halfway between the largest float32 and 2^128: rounded to float32, a double here is infinite.
_FLOAT32_OVERFLOW_HALFWAY = float.fromhex("0x1.ffffffp+127")


def _rounded_once(values, doubles: np.ndarray, result: np.ndarray, from_digits: bool) -> np.ndarray:
    """`result` (the float32 of each number's double, `doubles`) with every number rounded to
    float32 from its digits, as the Swift reader rounds it. The two differ only where the double
    lies exactly halfway between two float32 values, where numpy takes the even one and the
    digits may lie on either side of the double: "1.0000000596046448", Python's shortest spelling
    of the double halfway between 1 and the next float32 (what writing float32 values averaged as
    doubles gives), is above it, so 1.0000001 and not 1. `from_digits`: the numbers come from text
    (a plain float there raises _DigitsNeeded); else a float is the exact value, and numpy's
    choice is right."""
    rounded = result.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        other = np.nextafter(result, np.where(doubles > rounded, np.float32(np.inf), np.float32(-np.inf)))
        halfway = (doubles != rounded) & (doubles - rounded == other.astype(np.float64) - doubles)
    halfway |= np.abs(doubles) == _FLOAT32_OVERFLOW_HALFWAY
    for index in np.flatnonzero(halfway):
        value = values[index]
        if isinstance(value, _Digits):
            exact = Decimal(value.digits)
        elif isinstance(value, numbers.Integral):  # json reads whole numbers exactly
            exact = Decimal(int(value))
        elif from_digits:
            raise _DigitsNeeded()
        else:
            continue
        tie = Decimal(float(doubles[index]))  # the double itself, exactly
        if exact == tie:
            continue  # truly halfway: the even one, as the Swift reader rounds it too
        chosen = result[index]
        if (float(chosen) < tie) != (exact < tie):  # numpy's pick lies on the other side
            with np.errstate(over="ignore"):
                result[index] = np.nextafter(chosen, np.float32(np.inf) if exact > tie else np.float32(-np.inf))
    return result


def _floats(values, what: str, from_digits: bool = False) -> np.ndarray:
    """A flat JSON list of numbers as float32, each rounded once from its digits as the Swift
    reader rounds it (`_rounded_once`); ValueError naming the first entry that is no number
    (numpy would read true as 1, null as NaN and nested lists as rows). A finite number past
    float32's range (1e39; also a whole number past float64's, which json reads exactly, 10**400,
    and one past float64's that json reads as infinite, 1e400) raises `_BeyondFloat32`; one other
    than zero that rounds to zero raises ValueError; of the two, the first in the list. NaN and
    the infinities (json's NaN and Infinity, or floats of a parsed object) stay as they are, for
    the caller's check of non-finite values."""
    if not isinstance(values, list):
        raise ValueError(f"{what} must be a list of numbers (got {type(values).__name__})")
    for index, value in enumerate(values):
        if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            if isinstance(value, list):
                raise ValueError(f"{what} must be a flat list of numbers (entry {index} is a list)")
            raise ValueError(f"{what}[{index}] is {value!r:.40}, not a number")
    with np.errstate(over="ignore", under="ignore"):
        try:
            doubles = np.asarray(values, dtype=np.float64)
        except OverflowError:
            doubles = np.asarray([(math.inf if v > 0 else -math.inf) if isinstance(v, int) and abs(v) > _FLOAT32_MAX else v
                                  for v in values], dtype=np.float64)
        result = _rounded_once(values, doubles, doubles.astype(np.float32), from_digits)
    # A finite number that rounds to an infinity, or one other than zero that rounds to zero
    # (1e-50), is no float32 the file could hold; the Swift reader refuses it ("is beyond the
    # range of a 32-bit float", "underflows a 32-bit float") rather than read it as inf or 0.
    for index in np.flatnonzero((result == 0) | np.isinf(result)):
        value = values[index]
        if np.isinf(result[index]):
            if isinstance(value, _NonFinite):
                continue  # Infinity: non-finite as written
            # numpy's floats too: np.float32(inf) is no Python float.
            if (isinstance(value, (float, np.floating)) and not isinstance(value, _Digits)
                    and not math.isfinite(float(value))):
                if from_digits:
                    # json reads one past a double's range (1e400) as inf too: only its digits tell.
                    raise _DigitsNeeded()
                continue  # an infinite float of a parsed object
            raise _BeyondFloat32(index, _written(value))
        if isinstance(value, _Digits):
            written = value.digits
            # From the mantissa's digits: Decimal refuses exponents past 10**18 (1e-99999999999999999999).
            nonzero = any(c in "123456789" for c in written.lower().partition("e")[0])
        elif isinstance(value, float) and from_digits:
            # json reads one past a double's range (1e-400) as 0.0 too: only its digits tell.
            raise _DigitsNeeded()
        else:
            written, nonzero = f"{value!r:.40}", value != 0
        if nonzero:
            raise ValueError(f"{what}[{index}] is {written:.40}, which underflows a 32-bit float")
    return result


def _field(path: str, mapping: dict, key: str, where: str):
    """``mapping[key]``, or `OptimizerFileError` naming the missing field by its path in the file
    (``optimizer.preprocessing.logAndSign.p``), as the Swift reader names it."""
    if key not in mapping:
        raise OptimizerFileError(f"{path} is malformed: it has no field {where + '.' if where else ''}{key}")
    return mapping[key]


def _architecture(path: str, config: dict):
    """Hidden sizes, preprocessing, p, output scale and optimizer count, checked as the Swift
    reader (`LearnedOptimizerConfig.problems`) checks them."""
    if not isinstance(config, dict):
        raise OptimizerFileError(f"{path} is malformed: optimizer must be an object (got {config!r:.60})")
    if "hiddenSizes" in config and "hiddenSize" in config:
        # The Swift reader refuses both too: a reader that preferred the other key would build
        # another architecture from the same file.
        raise OptimizerFileError(f"{path} is malformed: give hiddenSize or hiddenSizes, not both")
    if "hiddenSizes" in config:
        if not isinstance(config["hiddenSizes"], list):
            raise OptimizerFileError(f"{path} is malformed: hiddenSizes must be a list of whole numbers "
                                     f"(got {config['hiddenSizes']!r:.60})")
        sizes = [_whole(h, "hiddenSizes") for h in config["hiddenSizes"]]
    elif "hiddenSize" in config:
        # Files from before the depth could change: two layers of hiddenSize units.
        sizes = [_whole(config["hiddenSize"], "hiddenSize")] * 2
    else:
        raise OptimizerFileError(f"{path} states no hiddenSize or hiddenSizes")
    if not sizes or any(h <= 0 for h in sizes):
        raise OptimizerFileError(f"{path} states no valid architecture (hidden sizes {sizes})")
    if len(sizes) > MAX_LAYERS:
        raise OptimizerFileError(f"{path} states no valid architecture: the number of LSTM layers must be at most "
                                 f"{MAX_LAYERS} (got {len(sizes)})")
    if max(sizes) > MAX_HIDDEN_SIZE:
        raise OptimizerFileError(f"{path} states no valid architecture: the hidden size must be at most "
                                 f"{MAX_HIDDEN_SIZE} (got {max(sizes)})")
    pre = config.get("preprocessing")
    # Exactly one case, as Swift decodes the enum ("raw" in "raw" would hold for a string).
    if not (isinstance(pre, dict) and len(pre) == 1 and isinstance(next(iter(pre.values())), dict)
            and next(iter(pre)) in ("raw", "logAndSign")):
        raise OptimizerFileError(f'{path} is malformed: preprocessing must be {{"raw": {{}}}} or '
                                 f'{{"logAndSign": {{"p": P}}}} (got {pre!r:.80})')
    if "raw" in pre:
        preprocessing, p = "raw", 0.0
    else:
        preprocessing, p = "log-sign", _usable_p(_positive(_field(path, pre["logAndSign"], "p", "optimizer.preprocessing.logAndSign"),
                                                              "the preprocessing constant p", path), path)
    # Required, as the Swift reader requires it: a file without it is not one the library wrote,
    # and taking 1 would read the φ of several optimizers as one.
    count = _whole(_field(path, config, "optimizerCount", "optimizer"), "optimizerCount")
    if count <= 0:
        raise OptimizerFileError(f"{path} states {count} optimizers")
    if count > MAX_OPTIMIZERS:
        raise OptimizerFileError(f"{path} states no valid architecture: optimizerCount must be at most "
                                 f"{MAX_OPTIMIZERS} (got {count})")
    return sizes, preprocessing, p, _positive(_field(path, config, "outputScale", "optimizer"), "outputScale", path), count


def _tensor_shapes(sizes: List[int], inputs: int, count: int):
    """Names and shapes in φ's order (ParameterLayout in the Swift library)."""
    shapes = []
    for o in range(count):
        prefix = "" if count == 1 else f"optimizer{o}."
        rows = inputs
        for k, h in enumerate(sizes, start=1):
            shapes.append((f"{prefix}lstm{k}.weight", (rows + h, 4 * h)))
            shapes.append((f"{prefix}lstm{k}.bias", (4 * h,)))
            rows = h
        shapes.append((f"{prefix}output.weight", (sizes[-1],)))
        shapes.append((f"{prefix}output.bias", (1,)))
    return shapes


class _ObjectWithRepeats(dict):
    """A JSON object as `_parse` reads it: `repeated` holds the keys it gives more than once."""
    repeated = ()


def _whole_number(digits: str):
    """A JSON whole number as json reads it (an int), except "-0": a negative zero, which an int
    cannot hold and the Swift reader keeps in φ (and writes so)."""
    return _Digits(digits) if digits == "-0" else int(digits)


# The deepest nesting of arrays and objects the Swift reader's parser takes (Foundation's limit).
MAX_NESTING = 512


def _parse(data: bytes, **options):
    """The JSON document in `data` (json.loads with `options`), the paths of the keys that one of
    its objects gives more than once, sorted (json would resolve such a key silently to its last
    value, where the Swift reader takes the first), and whether it holds a NaN or an infinity
    anywhere (json reads them; JSON and the Swift reader have none)."""
    repeats = False
    non_finite = False

    def constant(name):
        nonlocal non_finite
        non_finite = True
        return _NonFinite(name)

    def hook(pairs):
        nonlocal repeats
        document = _ObjectWithRepeats()
        for key, value in pairs:
            if key in document:
                document.repeated += (key,)
                repeats = True
            document[key] = value
        return document

    document = json.loads(data, object_pairs_hook=hook, parse_int=_whole_number, parse_constant=constant, **options)
    # The tree is walked only when some object repeated a key (a φ list can be long).
    return document, sorted(_repeated_key_paths(document)) if repeats else [], non_finite


def _nesting(document) -> int:
    """How deep arrays and objects nest in `document` (1 for a flat list)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _repeated_key_paths(node, path=()):
    """The paths of the repeated keys in a document that `_parse` read (a key's path from the
    outermost object; arrays add no component, as in the Swift reader's message)."""
    if isinstance(node, _ObjectWithRepeats):
        for key in node.repeated:
            yield path + (key,)
        children = ((path + (key,), value) for key, value in node.items())
    elif isinstance(node, list):
        children = ((path, value) for value in node)
    else:
        return
    for child_path, value in children:
        if isinstance(value, (dict, list)):
            yield from _repeated_key_paths(value, child_path)


def load(source: Union[str, os.PathLike, dict]) -> OptimizerSpec:
    """Reads an optimizer file or an export (a path, or the already parsed JSON object).

    A path must name a regular file (not a FIFO, device or directory) of at most `MAX_FILE_BYTES`
    (256 MiB, as the Swift reader) holding JSON in UTF-8 (a byte order mark is skipped), UTF-16 or
    UTF-32, as the Swift reader decodes it. Checks the format name, the version, the architecture
    (hiddenSize or hiddenSizes, not both; positive whole hidden sizes, p and outputScale positive
    and finite, and the Swift reader's limits: at most `MAX_LAYERS` layers of `MAX_HIDDEN_SIZE`
    units and `MAX_OPTIMIZERS` optimizers), that no object of a file gives a key twice, that every
    tensor the architecture needs is present with its shape (and, in an export, no other), that φ
    and every export tensor's values are flat lists of numbers (not true, null or nested lists)
    and that every value is finite (a file holds no NaN or infinity anywhere, and nests arrays and
    objects at most `MAX_NESTING` deep, as the Swift reader requires); raises `OptimizerFileError` naming the problem otherwise, also
    for a missing field or a value of the wrong type. Each number of a file becomes the float32
    nearest its digits, as in the Swift reader (not through the nearest double)."""
    if isinstance(source, dict):
        path, document = "<object>", source
    else:
        path = os.fspath(source)
        try:
            # Bytes, not text decoded as UTF-8: json then detects UTF-8 with or without a byte
            # order mark, UTF-16 and UTF-32, which the Swift reader (JSONDecoder) reads too.
            data = _read_bytes(path)
        except OSError as error:
            raise OptimizerFileError(f"{path} cannot be read ({error})") from error
        # A checkpoint holds φ too, but with the trainer's state in a binary format of its own.
        if data.startswith(_CHECKPOINT_MAGIC):
            raise OptimizerFileError(f"{path} is a training checkpoint, not an optimizer file: give the run's "
                                     "optimizer.json or best-optimizer.json (docs/checkpoints.md)")
        try:
            document, repeated, non_finite = _parse(data)
        # ValueError: bad JSON or bytes that are not UTF-8; RecursionError: arrays nested too deep.
        except (ValueError, RecursionError) as error:
            raise OptimizerFileError(f"{path} is not valid JSON ({error}); an optimizer file is JSON with "
                                     f"\"format\": \"{OPTIMIZER_FORMAT}\"") from error
        # Walked only when the file has brackets enough to nest that deep (a φ list can be long;
        # every '[' and '{' of UTF-8, -16 or -32 text is a byte 0x5B or 0x7B).
        if (isinstance(document, (dict, list)) and data.count(b"[") + data.count(b"{") > MAX_NESTING
                and _nesting(document) > MAX_NESTING):
            raise OptimizerFileError(f"{path} nests arrays and objects more than {MAX_NESTING} deep, which the Swift "
                                     "reader does not read")
        if repeated:
            # Named by its path, the first in sorted order, as the Swift reader names it
            # ('optimizer.hiddenSize').
            raise OptimizerFileError(f"{path} gives {'.'.join(repeated[0])!r} more than once in one object; give each "
                                     "key once (JSON readers keep one of the values silently, and not all the same one)")
    try:
        try:
            spec = _read(path, document, from_digits=not isinstance(source, dict))
        except _DigitsNeeded:
            # Rare (a number whose double is halfway between two float32 values): parsed again,
            # keeping every number's digits, only now.
            spec = _read(path, _parse(data, parse_float=_Digits)[0], from_digits=True)
        # One under a key nothing reads: json took it, JSON and the Swift reader do not (a NaN in
        # φ is named where it is, above).
        if not isinstance(source, dict) and non_finite:
            raise OptimizerFileError(f"{path} is not valid JSON: it holds NaN or an infinity (NaN and infinities "
                                     "are not JSON numbers)")
        return spec
    except OptimizerFileError:
        raise
    except KeyError as error:
        raise OptimizerFileError(f"{path} is malformed: it has no field {error}") from error
    except (TypeError, ValueError, AttributeError) as error:
        raise OptimizerFileError(f"{path} is malformed: {error}") from error


# The first bytes of a training checkpoint (docs/checkpoints.md, "Header").
_CHECKPOINT_MAGIC = b"MOPTCKPT"


def _read_bytes(path: str) -> bytes:
    """The content of the regular file at ``path``, at most `MAX_FILE_BYTES`."""
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; fstat then refuses it, a
    # device (/dev/zero never ends) or a directory before a byte is read.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OptimizerFileError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise OptimizerFileError(f"{path} is too large ({info.st_size} bytes; at most {MAX_FILE_BYTES} are read)")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_BYTES:  # grew since fstat
        raise OptimizerFileError(f"{path} is too large (more than {MAX_FILE_BYTES} bytes)")
    return data


def _values(path: str, values, what: str, where: str, from_digits: bool) -> np.ndarray:
    """`_floats(values, what, from_digits)`, a number beyond float32's range named by its position
    as the Swift reader names it: "PATH has a bad value at phi[0]: 1e+39 is beyond the range of a
    32-bit float" (`where`: "phi", or "tensors.NAME.values" in an export)."""
    try:
        return _floats(values, what, from_digits)
    except _BeyondFloat32 as error:
        raise OptimizerFileError(f"{path} has a bad value at {where}[{error.index}]: {error.written} is beyond "
                                 "the range of a 32-bit float") from None


def _read(path: str, document, from_digits: bool) -> OptimizerSpec:
    kind = document.get("format") if isinstance(document, dict) else None
    if kind not in (OPTIMIZER_FORMAT, EXPORT_FORMAT):
        raise OptimizerFileError(
            f'{path} is not a metaopt-dist optimizer file (expected "format": "{OPTIMIZER_FORMAT}" '
            f'or "{EXPORT_FORMAT}")')
    version = document.get("version")
    if isinstance(version, bool) or version != SUPPORTED_VERSION:  # True == 1 in Python
        raise OptimizerFileError(
            f"{path} has format version {version!r:.40}; this package reads version {SUPPORTED_VERSION}")
    sizes, preprocessing, p, scale, count = _architecture(path, _field(path, document, "optimizer", ""))
    inputs = 1 if preprocessing == "raw" else 2
    shapes = _tensor_shapes(sizes, inputs, count)
    tensors: Dict[str, np.ndarray] = {}
    if kind == OPTIMIZER_FORMAT:
        phi = _values(path, _field(path, document, "phi", ""), "phi", "phi", from_digits)
        needed = sum(math.prod(shape) for _, shape in shapes)
        if phi.shape != (needed,):
            raise OptimizerFileError(f"{path} holds {phi.size} parameters, but its architecture needs {needed}")
        offset = 0
        for name, shape in shapes:
            size = math.prod(shape)
            tensors[name] = phi[offset:offset + size].reshape(shape)
            offset += size
    else:
        stored = _field(path, document, "tensors", "")
        if not isinstance(stored, dict):
            raise OptimizerFileError(f"{path} is malformed: tensors must be an object of named tensors")
        known = dict(shapes)
        for name in stored:
            # A tensor of another architecture (a third layer) says the stated one is wrong.
            if name not in known:
                raise OptimizerFileError(f"{path} holds the tensor {name}, which its architecture (hidden sizes "
                                         f"{sizes}, {count} optimizer{'s' if count > 1 else ''}) does not have")
        for name, shape in shapes:
            if name not in stored:
                raise OptimizerFileError(f"{path} lacks the tensor {name}")
            entry = stored[name]
            if not isinstance(entry, dict):
                raise OptimizerFileError(f"{path} is malformed: {name} must be an object with shape and values")
            for key in ("shape", "values"):
                _field(path, entry, key, f"tensors.{name}")
            stated = entry["shape"]
            if not (isinstance(stated, list) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                                     for d in stated)) or tuple(stated) != shape:
                raise OptimizerFileError(f"{path}: {name} has shape {stated!r:.60}, expected {list(shape)}")
            values = _values(path, entry["values"], f"{name}: values", f"tensors.{name}.values", from_digits)
            if values.size != math.prod(shape):
                raise OptimizerFileError(f"{path}: {name} holds {values.size} values; its shape {list(shape)} "
                                         f"needs {math.prod(shape)}")
            tensors[name] = values.reshape(shape)
    for name, tensor in tensors.items():
        if not np.isfinite(tensor).all():
            raise OptimizerFileError(f"{path} holds non-finite parameters ({name})")
    optimizers = []
    for o in range(count):
        prefix = "" if count == 1 else f"optimizer{o}."
        layers = [LSTMLayer(tensors[f"{prefix}lstm{k}.weight"], tensors[f"{prefix}lstm{k}.bias"])
                  for k in range(1, len(sizes) + 1)]
        optimizers.append(LSTMWeights(layers, tensors[f"{prefix}output.weight"],
                                      float(tensors[f"{prefix}output.bias"][0])))
    metadata = {key: value for key, value in document.items()
                if key not in ("phi", "tensors", "optimizer", "format", "version")}
    return OptimizerSpec(sizes, preprocessing, p, scale, optimizers, metadata)
