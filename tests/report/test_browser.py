"""End to end in a real browser: a tiny pretraining run (with the kNN monitor and a method that
draws pictures), two saved evaluations, then ``report.html`` opened in headless Chromium
(Debian's ``chromium``, installed by ``.ci/run``).

Checked there: every section is laid out with its content (a probe script, added to a copy of
the page, measures each section and each image once the page has loaded, and writes what it saw
into the DOM that ``--dump-dom`` prints), the screenshot shows ink in every section's band,
and Chromium logged no console message (the report has no script, so any message is a fault;
a page with deliberate errors proves the scan sees them).
"""

import io
import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image, ImageStat

from ssrl.api import evaluate, pretrain
from ssrl.evaluation.fewshot import TrainBudget
from tests.report.runs import two_class_npz
from tests.report.test_run_report import SECTIONS

WIDTH = 1100
PROBE = """<script>
window.addEventListener("load", () => {
  const seen = {sections: {}, height: document.documentElement.scrollHeight};
  for (const s of document.querySelectorAll("section")) {
    const box = s.getBoundingClientRect(), imgs = [...s.querySelectorAll("img")];
    seen.sections[s.id] = {top: box.top + window.scrollY, bottom: box.bottom + window.scrollY,
                           text: s.innerText.length, images: imgs.length,
                           decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
                           missing: s.querySelectorAll(".missing").length};
  }
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        why = "Chromium is not installed: `apt-get install -y chromium` (Debian's package; .ci/run installs it)"
        if os.environ.get("SSRL_REQUIRE_CHROMIUM"):  # set by .ci/run: there its absence is a failure
            pytest.fail(why)
        pytest.skip(why)
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--force-device-scale-factor=1", "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return re.findall(r":CONSOLE(?:\(\d+\)|:\d+)\] (.*)", stderr)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    data = two_class_npz(tmp / "two.npz", n=96)
    run = pretrain(data, "inpainting", out=tmp / "run", epochs=2, batch_size=32, monitor=data,
                   log_every_n_steps=1, progress=False)
    evaluate(run, data, "knn")
    evaluate(run, data, "fewshot", label_fractions=[0.25, 0.5], draws=2, budget=TrainBudget(epochs=1))
    from ssrl.report import write_report

    return write_report(run)  # after the evaluations, as `ssrl report RUN` does


def test_console_scan_sees_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><body><script>console.error("boom"); notDefined();</script></body>')
    messages = console_messages(chromium("--dump-dom", page.as_uri()).stderr)
    assert any("boom" in m for m in messages) and any("notDefined is not defined" in m for m in messages)


def test_every_section_renders_in_chromium_without_console_messages(report, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--virtual-time-budget=5000", f"--window-size={WIDTH},1000", "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    seen = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)[1].replace("&quot;", '"'))
    sections = seen["sections"]
    assert list(sections) == SECTIONS
    for sid, s in sections.items():
        assert s["bottom"] - s["top"] > 40 and s["text"] > 20, sid
        assert s["decoded"] == s["images"], f"{sid}: {s['images'] - s['decoded']} image(s) failed to decode"
        assert s["missing"] == 0, f"{sid} says it has nothing to show"
    # curves, kNN, map, reconstructions, label-efficiency plot
    assert [sections[sid]["images"] for sid in SECTIONS] == [0, 1, 1, 1, 1, 1]

    shot = tmp_path / "report.png"
    result = chromium(f"--window-size={WIDTH},{seen['height']}", f"--screenshot={shot}", report.as_uri())
    assert result.returncode == 0 and console_messages(result.stderr) == []
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
    assert image.size == (WIDTH, seen["height"])
    for sid, s in sections.items():  # each section's band of the screenshot holds dark pixels (text, plots)
        band = image.crop((0, int(s["top"]), WIDTH, int(s["bottom"])))
        assert ImageStat.Stat(band).extrema[0][0] < 80, f"{sid}: blank in the screenshot"
