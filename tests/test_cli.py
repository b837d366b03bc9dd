"""The ``ssrl`` command end to end in subprocesses: exit codes, one-line errors, JSON output."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image


def ssrl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ssrl", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def labeled_npz(tmp_path_factory):
    """Two classes of 12×12 images (bright left half vs bright right half) with noise."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (160, 12, 12), dtype=np.uint8)
    y = np.arange(160) % 2
    x[y == 0, :, :6] += 150
    x[y == 1, :, 6:] += 150
    path = tmp_path_factory.mktemp("data") / "two.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def test_methods_table_lists_the_methods():
    result = ssrl("methods")
    assert result.returncode == 0
    assert "simclr" in result.stdout and "rotation" in result.stdout and "family" in result.stdout
    rows = json.loads(ssrl("methods", "--json").stdout)
    assert {"name", "family", "modality", "paper"} <= set(rows[0])


def test_corrupt_image_gives_a_one_line_error_naming_the_file(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    result = ssrl("pretrain", "--data", str(folder), "--epochs", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.png" in lines[0] and lines[0].startswith("error:")
    assert "Traceback" not in result.stderr


def test_unknown_method_error_lists_choices(labeled_npz, tmp_path):
    result = ssrl("pretrain", "--data", labeled_npz, "--method", "nope", "--out", str(tmp_path / "r"))
    assert result.returncode == 1 and "simclr" in result.stderr and "Traceback" not in result.stderr


def test_pretrain_evaluate_embed(labeled_npz, tmp_path):
    run = tmp_path / "run"
    result = ssrl("pretrain", "--data", labeled_npz, "--method", "rotation", "--epochs", "1",
                  "--batch-size", "32", "--out", str(run))
    assert result.returncode == 0, result.stderr
    for protocol in ("knn", "linear"):
        out = ssrl("evaluate", str(run), "--data", labeled_npz, "--protocol", protocol, "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert 0 <= report["top1"] <= 1 and 0 <= report["random_init_top1"] <= 1
        assert "stratified 20%" in report["split"] and report["n_test"] == 32
    result = ssrl("embed", str(run), "--data", labeled_npz, "--out", str(tmp_path / "f.npy"))
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "f.npy").shape == (160, 128)
    for extra, flag in ((["--epochs", "3"], "--epochs"), (["--method", "byol"], "--method")):
        refused = ssrl("pretrain", "--out", str(run), "--resume", *extra)
        assert refused.returncode == 1 and f"cannot change {flag}" in refused.stderr, refused.stderr
    finished = ssrl("pretrain", "--out", str(run), "--resume")
    assert finished.returncode == 1 and "already finished (1 epochs)" in finished.stderr, finished.stderr


def test_a_usage_error_shows_the_usage_and_exits_2():
    result = ssrl("pretrain", "--no-such-option")
    assert result.returncode == 2 and "ssrl pretrain [OPTIONS]" in result.stderr and "--no-such-option" in result.stderr


def test_demo_json_schema(tmp_path):
    result = ssrl("demo", "--json", "--epochs", "1", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for row in ("pretrained", "random_init"):
        assert {"knn", "linear", "features"} <= set(report[row])
        assert all(0 <= report[row][p][f] <= 1 for p in ("knn", "linear") for f in ("top1", "balanced_top1"))
    html = (tmp_path / "demo" / "simclr" / "report.html").read_text()
    assert report["report"].endswith("report.html") and "No evaluations yet" not in html
    assert "knn-digits.npz" in html and "linear-digits.npz" in html


def test_demo_says_where_its_run_and_report_are(tmp_path):
    result = ssrl("demo", "--epochs", "1", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert f"run directory: {tmp_path / 'demo' / 'simclr'}; report: " in result.stdout


@pytest.mark.slow
def test_demo_pretrained_row_is_clearly_better(tmp_path):
    report = json.loads(ssrl("demo", "--json", "--out", str(tmp_path / "demo")).stdout.strip().splitlines()[-1])
    for protocol in ("knn", "linear"):
        assert report["pretrained"][protocol]["top1"] > report["random_init"][protocol]["top1"] + 0.03


@pytest.mark.slow
@pytest.mark.parametrize("compiled", ["--no-compile", "--compile"])
def test_two_process_ddp_run_on_cpu(labeled_npz, tmp_path, compiled):
    run = tmp_path / "ddp"
    result = ssrl("pretrain", "--data", labeled_npz, "--method", "simclr", "--epochs", "1", "--batch-size", "32",
                  "--devices", "2", "--accelerator", "cpu", compiled, "--out", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (run / "backbone.safetensors").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    if compiled == "--compile":  # the eager module's keys, whatever compiling wrapped
        ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
        assert not any("_orig_mod" in k for k in ckpt["state_dict"])
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) > 1 and "loss_epoch" in rows[0]


def test_several_processes_need_an_explicit_run_directory(labeled_npz):
    result = ssrl("pretrain", "--data", labeled_npz, "--devices", "2", "--accelerator", "cpu")
    assert result.returncode == 1 and "--out" in result.stderr


def test_a_node_whose_peers_never_start_stops_saying_what_each_must_run(labeled_npz, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "NODE_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
           "SSRL_RENDEZVOUS_TIMEOUT": "3"}
    result = subprocess.run([sys.executable, "-m", "ssrl", "pretrain", "--data", labeled_npz, "--nodes", "2",
                             "--accelerator", "cpu", "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "did not all start within the rendezvous timeout" in result.stderr
    assert "NODE_RANK set to its own number, 0 to 1 (this one: NODE_RANK=0" in result.stderr


def test_every_option_says_what_it_does_and_flags_show_no_value_type():
    import typer
    from typer.testing import CliRunner

    from ssrl.cli import app

    commands = typer.main.get_command(app).commands
    silent = {name: [p.opts[0] for p in command.params if p.param_type_name == "option" and not p.help]
              for name, command in commands.items()}
    assert silent == {name: [] for name in commands}
    for args, flag in ((["--help"], "--debug"), (["evaluate", "--help"], "--json"), (["pretrain", "--help"], "--skip-bad")):
        shown = CliRunner().invoke(app, args, env={"COLUMNS": "160"}).output
        assert flag in shown and "<bool>" not in shown
    assert "<int>" in shown  # options that take a value still show its type
