"""Files planted in a run directory by someone else: a link at the name of every file ssrl writes
is replaced, never written through, and a malicious pickle in place of every file a run holds
never runs (each reader loads it as data or refuses it with an ``SsrlError``)."""

import builtins
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ssrl.api import embed, evaluate, pretrain
from ssrl.errors import SsrlError
from ssrl.export import export
from ssrl.report import write_report
from ssrl.runs import load_backbone

TINY = dict(epochs=2, batch_size=32, log_every_n_steps=1, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """Labeled 16×16 grayscale images of 3 classes (a bright square whose place is the class)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (144, 1, 16, 16), dtype=np.uint8)
    y = np.arange(144) % 3
    for i, c in enumerate(y):
        x[i, 0, 2 + 4 * c:6 + 4 * c, 4:10] = 250
    path = tmp_path_factory.mktemp("planted") / "squares.npz"
    np.savez(path, x_train=x[:96], y_train=y[:96], x_test=x[96:], y_test=y[96:])
    return str(path)


def _after_pretraining(run: Path, data: str) -> None:
    """Every command that writes into a finished run directory (or beside its export)."""
    evaluate(run, data, "knn", progress=False)
    evaluate(run, data, "fewshot", per_class=[2, 4], draws=1, budget=_quick(), progress=False)
    write_report(run)
    export(run, "safetensors")
    embed(run, data, out=run / "features.npy")


def _quick():
    from ssrl.evaluation.fewshot import TrainBudget
    return TrainBudget(epochs=1)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> tuple[Path, set[str], set[str]]:
    """A rotation run (it writes a picture of its own) taken through every command: the run, the
    files pretraining wrote, and the files it holds at the end."""
    run = tmp_path_factory.mktemp("finished") / "run"
    pretrain(data, "rotation", out=run, **TINY)
    pretrained = _files(run)
    _after_pretraining(run, data)
    return run, pretrained, _files(run)


def _plant_links(run: Path, names, outside: Path) -> dict[Path, bytes]:
    """A link at each of ``names`` in ``run`` to its own file in ``outside``; the targets' bytes."""
    targets = {}
    for name in names:
        target = outside / name.replace("/", "__")
        target.write_bytes(b"not yours\n")
        link = run / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        targets[target] = target.read_bytes()
    return targets


def test_links_planted_at_every_file_ssrl_writes_are_replaced(data, finished, tmp_path):
    _, pretrained, names = finished
    outside, run = tmp_path / "outside", tmp_path / "run"
    outside.mkdir()
    # A link at the checkpoint's or the backbone's name makes the directory a run already there
    # (the next test): every other name pretraining writes is planted before it starts, and every
    # name the later commands write (the report again) before they run.
    targets = _plant_links(run, pretrained - {"checkpoints/last.ckpt", "backbone.safetensors"}, outside)
    pretrain(data, "rotation", out=run, **TINY)
    targets |= _plant_links(run, names - pretrained | {"report.html"}, outside)
    _after_pretraining(run, data)
    assert {t: t.read_bytes() for t in targets} == targets
    assert not [n for n in names if (run / n).is_symlink()]
    assert _files(run) == names


@pytest.mark.parametrize("name", ["checkpoints/last.ckpt", "backbone.safetensors"])
def test_a_link_at_a_runs_weights_makes_the_directory_taken(data, tmp_path, name):
    outside, run = tmp_path / "outside", tmp_path / "run"
    outside.mkdir()
    targets = _plant_links(run, [name], outside)
    with pytest.raises(SsrlError, match="a run is already there"):
        pretrain(data, "rotation", out=run, **TINY)
    assert {t: t.read_bytes() for t in targets} == targets


class Boom:
    """Unpickling it creates the file ``Boom.marker``: the proof that loading ran code."""

    marker: Path

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def _malicious(path: Path, marker: Path) -> None:
    Boom.marker = marker
    if path.suffix == ".ckpt":  # torch.save's zip format, a pickle inside
        torch.save({"state_dict": Boom(), "epoch": 0}, path)
    else:
        path.write_bytes(pickle.dumps(Boom()))


def _readers(run: Path, data: str):
    return {"load_backbone": lambda: load_backbone(run), "evaluate": lambda: evaluate(run, data, "knn", progress=False),
            "report": lambda: write_report(run), "export": lambda: export(run, "safetensors"),
            "embed": lambda: embed(run, data)}


def test_a_malicious_pickle_in_place_of_any_run_file_never_runs(data, finished, tmp_path):
    run, _, names = finished
    marker, outcomes = tmp_path / "ran", {}
    for name in sorted(names):
        copy = tmp_path / name.replace("/", "__")
        shutil.copytree(run, copy)
        _malicious(copy / name, marker)
        for reader, call in _readers(copy, data).items():
            try:
                call()
                outcomes[name, reader] = "read"
            except SsrlError:
                outcomes[name, reader] = "refused"
            except Exception as e:  # noqa: BLE001  (listed below, all at once)
                outcomes[name, reader] = f"{type(e).__name__}: {str(e)[:200]}"
            assert not marker.exists(), f"loading a planted {name} ran its code ({reader})"
        shutil.rmtree(copy)
    unclear = {key: outcome for key, outcome in outcomes.items() if outcome not in ("read", "refused")}
    assert not unclear, "\n".join(f"{name} ({reader}): {outcome}" for (name, reader), outcome in unclear.items())
    # the files h_θ is rebuilt from are refused, never read as something else
    assert outcomes["config.yaml", "load_backbone"] == outcomes["backbone.safetensors", "load_backbone"] == "refused"
    assert outcomes["backbone.json", "export"] == "refused"


def test_a_malicious_checkpoint_is_refused_on_resume(data, tmp_path):
    run = tmp_path / "run"
    pretrain(data, "rotation", out=run, **TINY)
    (run / "backbone.safetensors").unlink()  # as if killed before the end
    marker = tmp_path / "ran"
    _malicious(run / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(SsrlError, match="last.ckpt"):
        pretrain(out=run, resume=True, progress=False)
    assert not marker.exists()
