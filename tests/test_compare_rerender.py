"""`vsr compare --rerender`: a report drawn again from its comparison.json (and curves.csv), scoring nothing."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.compare._compare import compare_models, write_comparison_report
from vsr.compare._curves import bicubic_reference, curve_rows, write_curve_settings
from vsr.compare._output import _bicubic_of_sets, rerender_report
from vsr.compare._results import BICUBIC, Comparison
from vsr.compare._serial import comparison_from_dict, comparison_to_dict
from vsr.errors import InvalidInputError
from vsr.io import read_image

from _models import save_tiny_model
from test_compare import clip_set, image_set  # noqa: F401 - fixtures of the compare tests, reused

_LINK = re.compile(r"\]\(((?:plots|crops)/[^)]+)\)")


@pytest.fixture
def comparison(image_set: Path, clip_set: Path, tmp_path: Path) -> Comparison:  # noqa: F811
    """Three tiny models in two groups (one of two seeds), on an image set and a clip folder, the clips also under
    x264: every part of the JSON (groups, clips, frame-weighted means, a further condition, examples)."""
    paths = [save_tiny_model(tmp_path / f"m{k}.pt", seed=k) for k in range(3)]
    labels = {"m0": "img s0", "m1": "img s1", "m2": "vid s0"}
    groups = {"img s0": "img", "img s1": "img", "vid s0": "vid"}
    return compare_models(paths, scale=2, image_sets=[image_set], video_sets=[clip_set], labels=labels,
                          groups=groups, device="cpu", video_degradations=["bi+x264:crf=35"])


def _run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_the_json_reads_back_into_the_same_comparison(comparison: Comparison) -> None:
    data = json.loads(json.dumps(comparison_to_dict(comparison), allow_nan=False))  # as a file holds it
    back = comparison_from_dict(data)
    assert comparison_to_dict(back) == data
    assert back.models == comparison.models and back.groups == comparison.groups
    assert [s.test_set for s in back.sets] == [s.test_set for s in comparison.sets]
    assert [s.test_set.degradation for s in back.sets] == ["bi", "bi", "bi+x264:crf=35"]
    for a, b in zip(back.sets, comparison.sets):
        assert a.bicubic.protocol == b.bicubic.protocol and a.bicubic.degradation == b.bicubic.degradation
        for lab in (*comparison.labels, BICUBIC):
            assert a.summary(lab) == b.summary(lab) and a.item_psnr(lab) == b.item_psnr(lab)
    assert [(e.set_name, e.item, e.top, e.left, e.psnr) for e in back.examples] == \
        [(e.set_name, e.item, e.top, e.left, dict(e.psnr)) for e in comparison.examples]
    assert all(not e.crops for e in back.examples)  # pixels are not in the JSON

    # Identical images score +inf dB, written as a string: read back as the number.
    data["sets"][0]["items"][0]["psnr"]["img s0"] = "inf"
    assert comparison_from_dict(data).sets[0].item_psnr("img s0")[0] == math.inf
    assert comparison_to_dict(comparison_from_dict(data)) == data


@pytest.mark.parametrize("damage", ["no models", "a label without scores", "a word for a number", "not a dict"])
def test_a_damaged_json_is_refused_with_what_is_wrong(comparison: Comparison, damage: str) -> None:
    data = comparison_to_dict(comparison)
    if damage == "no models":
        data["models"] = []
    elif damage == "a label without scores":
        del data["sets"][0]["summary"]["img s1"]
    elif damage == "a word for a number":
        data["sets"][0]["items"][0]["psnr"]["img s0"] = "high"
    else:
        data["sets"] = 3
    with pytest.raises(InvalidInputError, match="not a vsr comparison"):
        comparison_from_dict(data)


def test_rerendering_a_fresh_report_gives_the_same_report(comparison: Comparison, tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_comparison_report(comparison, out, title="Tiny: img vs vid", intro="Trained **briefly**.")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert json.loads(before[Path("comparison.json")])["report"] == {"title": "Tiny: img vs vid",
                                                                     "intro": "Trained **briefly**."}
    written = rerender_report(out)
    assert written[0] == out / "comparison.json" and written[-2:] == [out / "report.md", out / "report.html"]
    assert not any(p.parent.name == "crops" for p in written)  # kept as they are
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after.keys() == before.keys()
    changed = sorted(str(k) for k in before if before[k] != after[k])
    assert changed == []  # the same numbers and code draw the same tables, plots and pages, byte for byte


def test_cli_rerender_rewrites_the_pages_plots_and_tables(comparison: Comparison, tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_comparison_report(comparison, out, title="Old title", intro="How the models were trained.")
    # A report written before comparison.json kept its title and intro, with plots of an older plotter, CSVs
    # edited by hand, one plot and one crop left out of the folder on purpose.
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    del data["report"]
    (out / "comparison.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    plots = sorted((out / "plots").glob("*.png"))
    for p in plots:
        p.write_bytes(b"an old plot")
    (out / "summary.csv").write_text("edited\n", encoding="utf-8")
    (out / "report.html").write_text("old", encoding="utf-8")
    left_out_plot = out / "plots" / "psnr_TinyVid_city.png"
    left_out_plot.unlink()
    crops = sorted((out / "crops").glob("*.png"))
    crops[0].unlink()
    kept_crop = crops[1].read_bytes()

    code, stdout, stderr = _run("compare", "--rerender", out)
    assert code == 0, stderr
    assert f"from {out / 'comparison.json'}" in stdout
    for p in plots:
        if p != left_out_plot:
            img = read_image(p)
            assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400, p
    assert not left_out_plot.exists() and crops[1].read_bytes() == kept_crop and not crops[0].exists()
    assert (out / "summary.csv").read_text(encoding="utf-8").startswith("set,kind,protocol,model,psnr")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# Old title\n\nHow the models were trained.\n\n## Models")
    links = _LINK.findall(md)
    assert links and all((out / p).is_file() for p in links)
    # What is not in the folder is named in its place, not linked.
    assert f"(`plots/{left_out_plot.name}`" in md and f"(`crops/{crops[0].name}`" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Plots</h2>" in html and html.count("data:image/png;base64,") == len(links)
    # The title and intro now live in comparison.json; every number stays as it was.
    again = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert again.pop("report") == {"title": "Old title", "intro": "How the models were trained."}
    assert again == data


def test_cli_rerender_fails_in_one_line_on_a_missing_or_bad_json(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    code, _, stderr = _run("compare", "--rerender", folder)
    assert code == 1 and stderr.strip().splitlines() == [f"Error: {folder / 'comparison.json'}: not found; "
                                                          "--rerender needs the comparison.json that vsr compare wrote"]
    for text, why in (('{"scale": 2', "not valid JSON"), ("[1, 2]", "not a vsr comparison"),
                      ('{"scale": 2, "models": []}', "not a vsr comparison")):
        (folder / "comparison.json").write_text(text, encoding="utf-8")
        code, _, stderr = _run("compare", "--rerender", folder)
        lines = stderr.strip().splitlines()
        assert code == 1 and len(lines) == 1, stderr
        assert lines[0].startswith(f"Error: {folder / 'comparison.json'}: {why}"), stderr
        assert "Traceback" not in stderr
    code, _, stderr = _run("compare", "--rerender", folder, "-s", 2)
    assert code == 2 and "--rerender takes no other option (got --scale)" in stderr
    code, _, stderr = _run("compare", "-s", 2, "-o", folder)
    assert code == 2 and "Missing option -m/--model" in stderr


def test_learning_curves_are_drawn_again_from_curves_csv(comparison: Comparison, clip_set: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_comparison_report(comparison, out)
    from vsr.compare._curves import Curve

    curves = [Curve(lab, name, (2, 4, 6), (20.0 + k, 21.0 + k, 21.5 + k))
              for k, lab in enumerate(comparison.labels) for name in ("TinySet", "TinyVid")]
    (out / "curves.csv").write_text(
        "model,set,iteration,psnr\n" + "".join(",".join(map(str, r)) + "\n" for r in curve_rows(curves)),
        encoding="utf-8")
    # A folder written before curves.json existed: interval, stride and bicubic are recovered.
    md = (out / "report.md").read_text(encoding="utf-8").replace(
        "## Models", "## Learning curves\n\nPSNR ..., every 2th frame of video sets; ...\n\n## Models", 1)
    (out / "report.md").write_text(md, encoding="utf-8")
    rerender_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Learning curves" in md and "every 2 iterations" in md and "every 2th frame of video sets" in md
    assert "- img s1 on TinyVid: 21.00, 22.00, 22.50" in md
    for name in ("TinySet", "TinyVid"):
        assert f"](plots/curve_{name}.png)" in md and read_image(out / "plots" / f"curve_{name}.png").ndim == 3
    # Bicubic's reference, recovered from the comparison's items, is what scoring the set again gives.
    recovered = _bicubic_of_sets(comparison, {"TinySet", "TinyVid"}, 2)
    assert recovered["TinyVid"] == pytest.approx(bicubic_reference([clip_set], scale=2, frame_stride=2)["TinyVid"])
    assert recovered["TinySet"] == comparison.sets[0].summary(BICUBIC)[0]

    # With curves.json its settings are used as they are.
    write_curve_settings(out, snapshot_every=2, frame_stride=1, bicubic={"TinySet": 30.0})
    rerender_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "every 2 iterations" in md and "th frame of video sets" not in md
