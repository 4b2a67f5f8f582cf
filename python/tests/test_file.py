"""load() on files it must refuse: one OptimizerFileError naming the problem, quickly, never a
traceback from deep inside json or numpy, never a hang."""
import json
import os
import re

import numpy as np
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
    with pytest.raises(metaopt.OptimizerFileError, match="is not valid JSON"):
        metaopt.load(path)


def test_a_number_beyond_any_float_is_refused(tmp_path):
    document = good_document()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document).replace('"phi": [', '"phi": [' + "9" * 400 + ", ", 1), encoding="utf-8")
    document = json.loads(path.read_text(encoding="utf-8"))
    document["phi"].pop()  # the count as before, so only the value is wrong
    refused(tmp_path, document, r"has a bad value at phi\[0\]: 9\.9999999999999999\.\.\.e\+399 is beyond the range of a 32-bit float")


def good_export():
    return json.loads((DATA / "logsign-two.export.json").read_text(encoding="utf-8"))


def edited(document, edit):
    edit(document)
    return document


@pytest.mark.parametrize("edit, match", [
    # "1" read as "has format version 1; this package reads version 1"; True == 1 loaded.
    (lambda d: d.update(version="1"), "has format version '1'"),
    (lambda d: d.update(version=True), "has format version True"),
    (lambda d: d.update(optimizer=[20]), "optimizer must be an object"),
    (lambda d: d.update(optimizer=None), "optimizer must be an object"),
    # "raw" in "raw" and "raw" in ["raw"] held: both loaded as raw preprocessing.
    (lambda d: d["optimizer"].update(preprocessing="raw"), "preprocessing must be"),
    (lambda d: d["optimizer"].update(preprocessing=["raw"]), "preprocessing must be"),
    (lambda d: d["optimizer"].update(preprocessing={"raw": {}, "logAndSign": {"p": 10}}), "preprocessing must be"),
    (lambda d: d["optimizer"].update(preprocessing={"logAndSign": None}), "preprocessing must be"),
    (lambda d: d["optimizer"].update(hiddenSize=None), "hiddenSize"),
    (lambda d: d["optimizer"].update(hiddenSizes=d["optimizer"].pop("hiddenSize")), "hiddenSizes must be a list"),
    # True read as 1.0, null as NaN ("non-finite parameters"), a nested list counted its rows.
    (lambda d: d["phi"].__setitem__(5, True), r"phi\[5\] is True, not a number"),
    (lambda d: d["phi"].__setitem__(5, None), r"phi\[5\] is None, not a number"),
    (lambda d: d.update(phi={"a": 1}), "phi must be a list of numbers"),
    (lambda d: d.update(phi=None), "phi must be a list of numbers"),
])
def test_wrong_types_in_an_optimizer_file_are_named(tmp_path, edit, match):
    refused(tmp_path, edited(good_document(), edit), match)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_value_is_located(tmp_path, constant):
    """NaN and the infinities, which json reads (the Swift reader refuses them as no JSON)."""
    document = good_document()
    path = written_with_digits(tmp_path, document, document["phi"], constant)
    with pytest.raises(metaopt.OptimizerFileError, match=r"holds non-finite parameters \(optimizer0\.lstm1\.weight\)"):
        metaopt.load(path)
    document = good_document()
    document["phi"][-1] = float(constant)
    with pytest.raises(metaopt.OptimizerFileError, match=r"holds non-finite parameters \(optimizer1\.output\.bias\)"):
        metaopt.load(document)


@pytest.mark.parametrize("digits, written", [
    ("1e39", "1e+39"), ("-1E+39", "-1e+39"),
    ("3.4028235677973368e38", "3.4028235677973368e38"),  # past the halfway point to 2^128: its digits decide
    ("1e400", "1e400"),  # past a double's range too: json reads it as inf, yet it is a finite number
])
def test_a_finite_value_beyond_float32_is_named_as_the_swift_reader_names_it(tmp_path, digits, written):
    """A finite number past float32's range was reported as "holds non-finite parameters
    (lstm1.weight)"; the Swift reader says "has a bad value at phi[0]: 1e+39 is beyond the range of
    a 32-bit float", and so does load() now, for an export's values too (by the tensor's path)."""
    document = good_document()
    path = written_with_digits(tmp_path, document, document["phi"], digits)
    message = rf"{path} has a bad value at phi\[0\]: {re.escape(written)} is beyond the range of a 32-bit float$"
    with pytest.raises(metaopt.OptimizerFileError, match=message):
        metaopt.load(path)
    export = good_export()
    values = export["tensors"]["optimizer0.lstm1.weight"]["values"]
    path = written_with_digits(tmp_path, export, values, digits)
    with pytest.raises(metaopt.OptimizerFileError, match=r"has a bad value at tensors\.optimizer0\.lstm1\.weight\.values\[0\]: "
                       rf"{re.escape(written)} is beyond the range of a 32-bit float$"):
        metaopt.load(path)


def test_a_finite_value_beyond_float32_in_an_object_is_named(tmp_path):
    """The same for an already parsed object: a float past float32's range, or a whole number past
    any float's; an infinite float stays non-finite."""
    document = good_document()
    document["phi"][-1] = 1e39
    with pytest.raises(metaopt.OptimizerFileError, match=r"^<object> has a bad value at phi\[(\d+)\]: 1e\+39 is beyond") as raised:
        metaopt.load(document)
    assert raised.match(rf"phi\[{len(document['phi']) - 1}\]")
    # numpy's infinities are non-finite, as Python's are (np.float32 is no Python float).
    for infinite in (np.float32(np.inf), np.float64(-np.inf)):
        document["phi"][-1] = infinite
        with pytest.raises(metaopt.OptimizerFileError, match=r"holds non-finite parameters"):
            metaopt.load(document)
    document["phi"][-1] = -10 ** 40
    with pytest.raises(metaopt.OptimizerFileError, match=r"-1\.0000000000000000\.\.\.e\+40 is beyond the range of a 32-bit float"):
        metaopt.load(document)


@pytest.mark.parametrize("edit, match", [
    # A tensor with 79 values said "has shape [80], expected [80]".
    (lambda d: d["tensors"]["optimizer0.lstm2.bias"].update(values=[0.0] * 79),
     r"optimizer0\.lstm2\.bias holds 79 values; its shape \[80\] needs 80"),
    # The string "80" read as the shape ('8', '0').
    (lambda d: d["tensors"]["optimizer0.lstm2.bias"].update(shape="80"), r"optimizer0\.lstm2\.bias has shape '80', expected \[80\]"),
    (lambda d: d["tensors"]["optimizer1.output.bias"].update(shape=[True]), r"optimizer1\.output\.bias has shape \[True\], expected \[1\]"),
    # Values nested by rows loaded, whatever their nesting (the format is flat, row-major).
    (lambda d: d["tensors"]["optimizer0.lstm2.bias"].update(values=[[0.0] * 40] * 2), r"optimizer0\.lstm2\.bias: values must be a flat list"),
    (lambda d: d["tensors"]["optimizer0.lstm2.bias"].update(values=[0.0] * 79 + [False]), r"optimizer0\.lstm2\.bias: values\[79\] is False"),
    (lambda d: d["tensors"].update({"optimizer0.lstm2.bias": None}), r"optimizer0\.lstm2\.bias must be an object"),
    (lambda d: d.update(tensors=[1]), "tensors must be an object"),
    # A tensor the stated architecture does not have (a third layer) was ignored silently.
    (lambda d: d["tensors"].update({"optimizer0.lstm3.bias": {"shape": [4], "values": [0, 0, 0, 0]}}),
     r"holds the tensor optimizer0\.lstm3\.bias, which its architecture"),
])
def test_an_export_s_problems_are_named(tmp_path, edit, match):
    refused(tmp_path, edited(good_export(), edit), match)


@pytest.mark.parametrize("edit, match", [
    # json reads a whole number of 400 digits exactly; math.isfinite raised OverflowError on it,
    # a traceback that named neither the file nor the field.
    (lambda d: d["optimizer"].update(hiddenSize=10 ** 400), "the hidden size must be at most 16384"),
    (lambda d: d["optimizer"].update(hiddenSize=-10 ** 400), "no valid architecture"),
    (lambda d: d["optimizer"].update(optimizerCount=10 ** 400), "optimizerCount must be at most 64"),
    (lambda d: d["optimizer"].update(outputScale=10 ** 400), "outputScale must be positive and finite as a 32-bit float"),
    (lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=10 ** 400),
     "p must be positive and finite as a 32-bit float"),
    (lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=-10 ** 400), "p must be positive and finite"),
])
def test_a_whole_number_beyond_any_float_in_the_architecture_is_refused(tmp_path, edit, match):
    refused(tmp_path, edited(good_document(), edit), match)


@pytest.mark.parametrize("document", [good_document, good_export])
@pytest.mark.parametrize("edit, match", [
    # The engines use outputScale and p as 32-bit floats: 1e-50 is 0 as one (the Swift engine
    # divided log|g| by 0; numpy divided by 1e-50 and went on with finite numbers).
    (lambda d: d["optimizer"].update(outputScale=1e-50), "outputScale must be positive as a 32-bit float"),
    (lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=1e-50),
     "the preprocessing constant p must be positive as a 32-bit float"),
    # e^100 overflows a 32-bit float: the Swift engine's input for a zero gradient was inf · 0 = NaN,
    # numpy's (-1, 0).
    (lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=100),
     r"the preprocessing constant p must be at most 88\.72"),
    # log(1e30) / 1e-38 overflows a 32-bit float: every step's input was infinite.
    (lambda d: d["optimizer"]["preprocessing"]["logAndSign"].update(p=1e-38),
     r"the preprocessing constant p must be at least 1e-36 \(log\|g\| / p"),
])
def test_architecture_numbers_the_float_engine_cannot_use_are_refused(tmp_path, document, edit, match):
    """As the Swift reader refuses them (LearnedOptimizerConfig.problems)."""
    refused(tmp_path, edited(document(), edit), match)


def test_the_largest_usable_p_and_the_smallest_output_scale_load(tmp_path):
    document = good_document()
    document["optimizer"]["preprocessing"]["logAndSign"]["p"] = 88.72283908  # the bound the refusal states
    document["optimizer"]["outputScale"] = 1e-44  # a subnormal 32-bit float, not zero
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    spec = metaopt.load(path)
    assert spec.p == 88.72283908 and spec.output_scale == 1e-44
    document["optimizer"]["preprocessing"]["logAndSign"]["p"] = 88.72283909
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match=r"p must be at most 88\.72283908 \("):
        metaopt.load(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32-le"])
def test_a_file_the_swift_reader_decodes_loads(tmp_path, encoding):
    """The Swift reader (JSONDecoder) reads UTF-8 with a byte order mark (as an editor on Windows
    saves it), UTF-16 and UTF-32; load() decoded UTF-8 only and refused them ("Unexpected UTF-8
    BOM")."""
    text = (DATA / "logsign-two.optimizer.json").read_text(encoding="utf-8")
    path = tmp_path / "encoded.json"
    path.write_bytes(text.encode(encoding))
    expected, got = metaopt.load(DATA / "logsign-two.optimizer.json"), metaopt.load(path)
    assert got.hidden_sizes == expected.hidden_sizes and got.p == expected.p
    assert all(a.weight.tobytes() == b.weight.tobytes() for o, e in zip(got.optimizers, expected.optimizers)
               for a, b in zip(o.layers, e.layers))


def test_a_training_checkpoint_is_named_as_one(tmp_path):
    """A run's checkpoint given as the optimizer said "cannot be read ('utf-8' codec can't
    decode byte ...)"; it says what it is and what to give instead, as the Swift reader does."""
    path = tmp_path / "ckpt-0000000200.mopt"
    path.write_bytes(b"MOPTCKPT" + bytes(56))
    with pytest.raises(metaopt.OptimizerFileError, match=r"is a training checkpoint, not an optimizer file: give the "
                       r"run's optimizer\.json or best-optimizer\.json"):
        metaopt.load(path)


def test_truncated_json_and_a_missing_nested_field_are_named(tmp_path):
    """A cut-off file read as an I/O failure ("cannot be read (Expecting ',' delimiter ...)"), and
    a missing field was named without its path ("it has no field 'p'")."""
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(good_document())[:500], encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match=r"cut\.json is not valid JSON \(.*\); an optimizer file is JSON"):
        metaopt.load(path)
    document = good_document()
    document["optimizer"]["preprocessing"] = {"logAndSign": {}}
    refused(tmp_path, document, r"it has no field optimizer\.preprocessing\.logAndSign\.p$")


def test_bytes_that_are_no_json_text_are_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(metaopt.OptimizerFileError, match="is not valid JSON"):
        metaopt.load(path)


@pytest.mark.parametrize("field", ["shape", "values"])
def test_an_export_tensor_without_a_field_is_named(tmp_path, field):
    """It read "is malformed: it has no field 'shape'", naming none of the tensors."""
    refused(tmp_path, edited(good_export(), lambda d: d["tensors"]["optimizer1.lstm2.weight"].pop(field)),
            rf"it has no field tensors\.optimizer1\.lstm2\.weight\.{field}$")


@pytest.mark.parametrize("name", ["raw.optimizer.json", "raw.export.json"])
def test_a_file_without_optimizer_count_is_refused(tmp_path, name):
    """optimizerCount is part of the architecture (docs/optimizer-file.md) and the Swift reader
    refuses a file without it; load() took it as 1, so a one-optimizer file without it loaded."""
    document = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert document["optimizer"]["optimizerCount"] == 1
    del document["optimizer"]["optimizerCount"]
    refused(tmp_path, document, r"it has no field optimizer\.optimizerCount$")


@pytest.mark.parametrize("name, key", [("raw.optimizer.json", None), ("raw.export.json", "lstm2.bias")])
@pytest.mark.parametrize("value", [1e-50, -1e-46, 7e-46])
def test_a_value_that_underflows_float32_is_refused(tmp_path, name, key, value):
    """The Swift reader refuses a φ entry that is not zero but rounds to zero as a 32-bit float
    ("underflows a 32-bit float"); load() read it as 0. The smallest subnormal still loads."""
    document = json.loads((DATA / name).read_text(encoding="utf-8"))
    values = document["phi"] if key is None else document["tensors"][key]["values"]
    values[3] = value
    refused(tmp_path, document, r"\[3\] is .*, which underflows a 32-bit float")
    values[3] = 8e-46  # rounds up to the smallest subnormal, 2^-149
    path = tmp_path / "subnormal.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    metaopt.load(path)


@pytest.mark.parametrize("key, before", [("version", None), ("hiddenSize", "optimizer"), ("phi", None)])
def test_a_key_given_twice_in_one_object_is_refused(tmp_path, key, before):
    """json keeps the last of two values and the Swift reader's JSONDecoder the first, so the two
    readers would load other weights (a second "phi") or another architecture; both refuse it."""
    text = (DATA / "raw.optimizer.json").read_text(encoding="utf-8")
    document = json.loads(text)
    value = document[before][key] if before else document[key]
    start = text.index(f'"{before}"') if before else 0
    at = text.index(f'"{key}"', start)
    path = tmp_path / "twice.json"
    path.write_text(text[:at] + f'"{key}": {json.dumps(value)}, ' + text[at:], encoding="utf-8")
    # Named by its path, as the Swift reader names it.
    name = f"{before}.{key}" if before else key
    with pytest.raises(metaopt.OptimizerFileError, match=f"gives '{name}' more than once in one object"):
        metaopt.load(path)
    # The same name in two objects is no repetition.
    path.write_text(text, encoding="utf-8")
    metaopt.load(path)


def test_a_repeated_key_is_found_whatever_its_spelling_and_named_first_in_sorted_order(tmp_path):
    """A key spelled with escapes is the same key ("\\u0070hi" is "phi"); of several repetitions
    the message names the first path in sorted order, the one the Swift reader names."""
    text = (DATA / "raw.optimizer.json").read_text(encoding="utf-8")
    path = tmp_path / "twice.json"
    path.write_text(text.replace('"phi":', '"\\u0070hi": [], "phi":', 1), encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match="gives 'phi' more than once in one object"):
        metaopt.load(path)
    at = text.index('"hiddenSize"')
    path.write_text(text[:at] + '"hiddenSize": 1, ' + text[at:].replace('"phi":', '"phi": [], "phi":', 1), encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match="gives 'optimizer.hiddenSize' more than once in one object"):
        metaopt.load(path)


@pytest.mark.parametrize("sizes", [[20, 20], [5], None])
def test_hidden_size_and_hidden_sizes_together_are_refused(tmp_path, sizes):
    """Each reader would otherwise pick one of the two by its own rule (the Swift reader took
    hiddenSize where hiddenSizes was null)."""
    document = good_document()
    assert "hiddenSize" in document["optimizer"]
    document["optimizer"]["hiddenSizes"] = sizes
    refused(tmp_path, document, "give hiddenSize or hiddenSizes, not both")


def written_with_digits(tmp_path, document, values, digits):
    """The path of `document` written with the first entry of its list `values` spelled `digits`
    (json.dumps would spell a float its own way)."""
    values[0] = "<digits>"
    path = tmp_path / "digits.json"
    path.write_text(json.dumps(document).replace('"<digits>"', digits, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("digits, bits", [
    # Python's shortest spelling of the double halfway between 1 and the next float32 (what
    # json.dump writes for float32 values averaged as doubles): above the double, so the next float32.
    ("1.0000000596046448", 0x3F800001),
    ("-1.0000000596046448", 0xBF800001),
    ("1.00000005960464477", 0x3F800000),  # below it: 1
    ("1.000000059604644775390625", 0x3F800000),  # exactly halfway: the even one
    ("3.4028235677973366e38", 0x7F7FFFFF),  # below the halfway point to 2^128: the largest float32
    ("7.00649232162408536e-46", 0x00000001),  # above half the smallest subnormal: not zero
    ("16777217", 0x4B800000),  # a whole number exactly halfway: the even one
])
def test_numbers_are_rounded_to_float32_once_from_their_digits(tmp_path, digits, bits):
    """json's float is the nearest double, and numpy's float32 of it rounds a second time: where
    the double lies exactly halfway between two float32 values, the digits decide, as in the Swift
    reader (ReaderHardeningTests pins its side), and both readers load the same bits."""
    document = good_document()
    weight = metaopt.load(written_with_digits(tmp_path, document, document["phi"], digits)).optimizers[0].layers[0].weight
    assert int(weight.reshape(-1)[:1].view(np.uint32)[0]) == bits
    # In an export's tensor values too.
    export = json.loads((DATA / "logsign-two.export.json").read_text(encoding="utf-8"))
    values = export["tensors"]["optimizer0.lstm1.weight"]["values"]
    weight = metaopt.load(written_with_digits(tmp_path, export, values, digits)).optimizers[0].layers[0].weight
    assert int(weight.reshape(-1)[:1].view(np.uint32)[0]) == bits


def test_a_number_below_the_float32_halfway_to_zero_still_underflows(tmp_path):
    document = good_document()
    path = written_with_digits(tmp_path, document, document["phi"], "7.0064923216240853e-46")
    with pytest.raises(metaopt.OptimizerFileError, match="underflows a 32-bit float"):
        metaopt.load(path)



@pytest.mark.parametrize("digits", ["1e-400", "-1e-400", "2.5e-324", "1e-99999999999999999999", "-2.5E-99999999999999999999"])
def test_a_value_that_underflows_even_a_double_is_refused(tmp_path, digits):
    """json reads a number below a double's range as 0.0, which the zero check took for a written
    zero: load() read 1e-400 as 0 where the Swift reader refuses the file. Its digits decide now
    (an exponent past 10**18 made the check raise decimal.InvalidOperation instead)."""
    document = good_document()
    with pytest.raises(metaopt.OptimizerFileError, match=rf"phi\[0\] is {digits}, which underflows a 32-bit float"):
        metaopt.load(written_with_digits(tmp_path, document, document["phi"], digits))


@pytest.mark.parametrize("digits, negative", [("-0", True), ("-0.0", True), ("-0e3", True), ("0", False), ("0.0", False),
                                              ("0e-99999999999999999999", False), ("-0.0E-99999999999999999999", True)])
def test_a_zero_keeps_its_sign(tmp_path, digits, negative):
    """The Swift reader keeps a negative zero and writes it as -0, which json reads as the int 0:
    load() read +0.0. Written zeros of either sign still load."""
    document = good_document()
    for values in (document["phi"],):
        weight = metaopt.load(written_with_digits(tmp_path, document, values, digits)).optimizers[0].layers[0].weight
        first = weight.reshape(-1)[0]
        assert first == 0 and bool(np.signbit(first)) == negative
    # A -0 where a whole number belongs is 0 there (here: refused as no positive hidden size).
    document = good_document()
    document["optimizer"]["hiddenSize"] = "<zero>"
    path = tmp_path / "zero.json"
    path.write_text(json.dumps(document).replace('"<zero>"', "-0"), encoding="utf-8")
    with pytest.raises(metaopt.OptimizerFileError, match=r"hidden sizes \[0, 0\]"):
        metaopt.load(path)
