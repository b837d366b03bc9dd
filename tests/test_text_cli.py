"""Text runs end to end through the ``ssrl`` command (in-process): pretrain, evaluate (mean / first
pooling), embed, and the errors a user meets."""

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from ssrl.api import pretrain
from ssrl.cli import app
from ssrl.errors import DataError, SsrlError

WORDS = {"animal": "dog cat bird fish horse wolf lion mouse".split(), "place": "city river hill town lake road field sea".split()}


def ssrl(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def glosses(tmp_path_factory):
    """A TSV like the WordNet glosses: split, label, gloss; the label decides the words."""
    rng = random.Random(0)
    rows = ["split\tlabel\tgloss"]
    for i in range(200):
        label = ["animal", "place"][i % 2]
        words = [rng.choice(WORDS[label]) for _ in range(rng.randint(3, 9))]
        rows.append(f"{'test' if i % 4 == 0 else 'train'}\t{label}\ta {' and '.join(words)}")
    path = tmp_path_factory.mktemp("text") / "glosses.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def run(glosses, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlm"
    ssrl("pretrain", "--data", glosses, "--method", "masked_lm", "--epochs", "1", "--batch-size", "25",
         "--text-column", "gloss", "--vocab-size", "300", "--max-tokens", "24", "--out", out)
    return out


def test_pretrain_writes_tokenizer_and_text_backbone(run):
    spec = json.loads((run / "backbone.json").read_text())
    assert spec["backbone"] == "text-encoder-mini" and spec["max_tokens"] == 24 and "token ids" in spec["input"]
    assert (run / "tokenizer.json").is_file() and (run / "backbone.safetensors").is_file()


@pytest.mark.parametrize("pool", ["mean", "first"])
def test_evaluate_linear_probe_beside_random_init(run, glosses, pool):
    out = json.loads(ssrl("evaluate", run, "--data", glosses, "--protocol", "linear", "--label-column", "label",
                          "--pool", pool, "--json"))
    assert out["pool"] == pool and out["n_train"] == 150 and out["n_test"] == 50 and "split column" in out["split"]
    assert 0 <= out["top1"] <= 1 and 0 <= out["random_init_top1"] <= 1


def test_embed_writes_one_row_per_document(run, glosses, tmp_path):
    ssrl("embed", run, "--data", glosses, "--out", tmp_path / "f.npy")
    assert np.load(tmp_path / "f.npy").shape == (200, 256)


def test_malformed_row_and_wrong_modality_are_refused_before_a_run_is_written(glosses, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("split\tlabel\tgloss\ntrain\ta\tfine\ntrain\tonly two\n")
    with pytest.raises(DataError, match=f"^{bad}:3: 2 fields, but the header has 3$"):
        pretrain(str(bad), "masked_lm", out=tmp_path / "r")
    with pytest.raises(SsrlError, match="text data, but simclr is a method for image"):
        pretrain(glosses, "simclr", out=tmp_path / "r2")
    with pytest.raises(SsrlError, match="masked_lm is a text method: it needs a text backbone"):
        pretrain(glosses, "masked_lm", backbone="convnet-small", out=tmp_path / "r3")
    assert not any((tmp_path / r).exists() for r in ("r", "r2", "r3"))


def test_word2vec_run_writes_word2vec_format_and_finds_neighbours(glosses, tmp_path):
    run = tmp_path / "w2v"
    ssrl("pretrain", "--data", glosses, "--method", "word2vec", "--epochs", "1", "--batch-size", "25",
         "--text-column", "gloss", "--out", run)
    assert json.loads((run / "backbone.json").read_text())["backbone"] == "word-embeddings-100"
    ssrl("embed", run, "--out", tmp_path / "vectors.txt")
    lines = (tmp_path / "vectors.txt").read_text().splitlines()
    words = {line.split()[0] for line in lines[1:]}
    assert lines[0] == f"{len(lines) - 1} 100" and {"dog", "river", "and"} <= words
    neighbours = json.loads(ssrl("similar", run, "dog", "--k", "3", "--json"))
    assert len(neighbours) == 3 and all(w != "dog" and -1 <= s <= 1 for w, s in neighbours)


def test_text_given_no_method_gets_its_modalitys_default_method_and_says_which(glosses, tmp_path):
    out = tmp_path / "default"
    ssrl("pretrain", "--data", glosses, "--text-column", "gloss", "--max-steps", "2", "--out", out)
    config = (out / "config.yaml").read_text()
    assert "method: word2vec" in config and "tokenizer: word" in config


def test_resume_refuses_a_method_even_the_default_ones_name(glosses, tmp_path):
    result = CliRunner().invoke(app, ["pretrain", "--resume", "--out", str(tmp_path), "--method", "word2vec"])
    assert isinstance(result.exception, SsrlError) and "cannot change --method" in str(result.exception)
