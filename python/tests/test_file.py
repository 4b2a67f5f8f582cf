"""load() on files it must refuse: one OptimizerFileError naming the problem, quickly, never a
traceback from deep inside json or numpy, never a hang."""
import json
import os

import pytest

import metaopt
from conftest import DATA


def good_document():
    return json.loads((DATA / "logsign-two.optimizer.json").read_text(encoding="utf-8"))


def refused(tmp_path, document, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match=match):
        metaopt.load(path)


@pytest.mark.parametrize("field, value, match", [
    # Counts past the Swift reader's SizeLimits: optimizerCount 1e12 looped for hours building the
    # tensor table before φ's length was compared.
    ("optimizerCount", 10 ** 12, "optimizerCount must be at most 64"),
    ("hiddenSizes", [20] * 65, "the number of LSTM layers must be at most 64"),
    ("hiddenSizes", [20, 100000], "the hidden size must be at most 16384"),
])
def test_sizes_beyond_the_swift_limits_are_refused_at_once(tmp_path, field, value, match):
    document = good_document()
    document["optimizer"].pop("hiddenSize")
    document["optimizer"].setdefault("hiddenSizes", [20, 20])
    document["optimizer"][field] = value
    refused(tmp_path, document, match)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    # A plain open() waits for a writer forever.
    with pytest.raises(metaopt.OptimizerFileError, match="is not a regular file"):
        metaopt.load(fifo)


def test_a_directory_and_a_device_are_refused(tmp_path):
    with pytest.raises(metaopt.OptimizerFileError, match="is not a regular file|cannot be read"):
        metaopt.load(tmp_path)
    if os.path.exists("/dev/zero"):  # read() on it never ends
        with pytest.raises(metaopt.OptimizerFileError, match="is not a regular file"):
            metaopt.load("/dev/zero")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: no disk space used
        handle.truncate(metaopt.file.MAX_FILE_BYTES + 1)
    with pytest.raises(metaopt.OptimizerFileError, match="is too large"):
        metaopt.load(path)


def test_json_nested_too_deep_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(metaopt.OptimizerFileError, match="cannot be read"):
        metaopt.load(path)


def test_a_number_beyond_any_float_is_refused(tmp_path):
    document = good_document()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document).replace('"phi": [', '"phi": [' + "9" * 400 + ", ", 1), encoding="utf-8")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["phi"].pop()  # the count as before, so only the value is wrong
    refused(tmp_path, document, "non-finite")
