"""Text sources: plain text, TSV, CSV, JSON lines, gzipped; split column; errors name file and line."""

import gzip
import json

import pytest

from ssrl.data.text import load_text, load_text_labeled, text_kind
from ssrl.errors import DataError


def test_kinds():
    assert [text_kind(p) for p in ("a.txt", "a.tsv.gz", "b.CSV", "c.jsonl", "d.npy", "e.gz")] == \
        ["txt", "tsv", "csv", "jsonl", None, None]


def test_plain_text_lines_and_paragraphs(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one line\nsecond line\n\nthird\n  \nfourth\nstill fourth\n")
    assert load_text(path).texts == ["one line", "second line", "third", "fourth", "still fourth"]
    assert load_text(path, documents="paragraph").texts == ["one line second line", "third", "fourth still fourth"]


def test_gzipped_tsv_with_split_and_labels(tmp_path):
    path = tmp_path / "g.tsv.gz"
    rows = ["split\tlabel\tgloss", "train\tb\ta dog", "train\ta\ta cat \"quoted\"", "test\tb\ta wolf"]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")
    train = load_text(path, text_column="gloss", label_column="label")
    assert train.texts == ["a dog", 'a cat "quoted"'] and train.classes == ["a", "b"] and train.labels.tolist() == [1, 0]
    train, test, note = load_text_labeled(str(path), label_column="label")
    assert test.texts == ["a wolf"] and test.labels.tolist() == [1] and "split column" in note


def test_csv_quotes_and_jsonl(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,y\n"hello, world",1\nplain,0\n')
    assert load_text(csv_path, label_column="y").texts == ["hello, world", "plain"]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(json.dumps({"text": "x y", "y": "p"}) + "\n\n" + json.dumps({"text": "z", "y": "q"}) + "\n")
    source = load_text(jsonl, label_column="y")
    assert source.texts == ["x y", "z"] and source.labels.tolist() == [0, 1]


def test_holdout_when_no_split(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("text\tlabel\n" + "".join(f"doc {i}\t{i % 2}\n" for i in range(20)))
    train, test, note = load_text_labeled(str(path), label_column="label")
    assert len(train) == 16 and len(test) == 4 and "20% held out" in note


@pytest.mark.parametrize("name, content, message", [
    ("bad.tsv", "text\tlabel\nfine\t1\ntoo\tmany\tfields\n", "bad.tsv:3: 3 fields"),
    ("bad.jsonl", '{"text": "a"}\n{"text": \n', "bad.jsonl:2: not valid JSON"),
    ("bad.jsonl", '{"text": "a"}\n["a"]\n', "bad.jsonl:2: expected a JSON object"),
    ("bad.csv", 'text,label\n"unclosed,1\n', "bad.csv:"),
])
def test_malformed_rows_name_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace(".", r"\.")):
        load_text(path)


def test_missing_column_and_bad_bytes_are_named(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("gloss\tlabel\nx\t1\n")
    with pytest.raises(DataError, match="no label column 'lexname'; columns: gloss, label"):
        load_text(path, label_column="lexname")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"fine\n\xff\xfe bad\n")
    with pytest.raises(DataError, match="b.txt:.*cannot decode"):
        load_text(binary)


def test_classes_are_numbered_over_train_and_test(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("split\ttext\tlabel\ntrain\tx\tb\ntrain\ty\td\ntest\tz\tc\ntest\tw\tb\n")
    train, test, _ = load_text_labeled(str(path), label_column="label")
    assert train.classes == test.classes == ["b", "c", "d"]
    assert train.labels.tolist() == [0, 2] and test.labels.tolist() == [1, 0]


@pytest.mark.parametrize("name", ["b.txt", "b.tsv.gz"])
def test_bad_bytes_are_reported_at_their_line(tmp_path, name):
    content = b"text\n" + b"fine \xc3\xa9\n" * 2000 + b"ok\r\nbad \xff here\n" + b"after\n"  # past one read chunk
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    message = rf"{name.replace('.', '[.]')}:2003: cannot decode as UTF-8 \(byte 0xff, column 5\)"
    with pytest.raises(DataError, match=message):
        load_text(path)


def test_bad_bytes_in_the_first_chunk_are_reported_at_their_line(tmp_path):
    path = tmp_path / "b.txt"
    path.write_bytes(b"one\ntwo\rthree\n\xfe\n")
    with pytest.raises(DataError, match=r"b\.txt:4: cannot decode"):
        load_text(path)


def test_corrupt_gzip_stream_is_named(tmp_path):
    path = tmp_path / "a.tsv.gz"
    data = bytearray(gzip.compress(b"text\tlabel\n" + b"a document\t1\n" * 500))
    data[12] ^= 0xFF  # the deflate stream: zlib.error, not an OSError
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"a\.tsv\.gz: cannot read"):
        load_text(path)
