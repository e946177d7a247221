"""``comparison.json``: a :class:`vsr.compare._results.Comparison` as a JSON-ready dict, and back.

:func:`comparison_to_dict` writes every number the report shows (models, protocols, summaries, clips, items,
the differences and group statistics derived from them, the examples' windows); :func:`comparison_from_dict`
reads such a dict back into a :class:`Comparison`, so that a report can be drawn again from its JSON without
scoring anything (:mod:`vsr.compare._output`). Infinite PSNRs (identical images) are written as the strings
``"inf"`` and ``"-inf"``, which strict JSON allows where the numbers are not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vsr.compare._results import BICUBIC, Comparison, DiffExample, ModelInfo, SetScores, TestSet, group_stats
from vsr.errors import InvalidInputError
from vsr.evaluation import ClipSummary, EvalResult, ItemScore, Summary
from vsr.metrics import PROTOCOLS, Protocol

__all__ = ["comparison_from_dict", "comparison_to_dict"]


# --------------------------------------------------------------------------- to a dict


def _jv(v: float | None) -> Any:
    """``v`` as strict JSON allows it: infinities as strings."""
    if v is None or math.isfinite(v):
        return v
    return "inf" if v > 0 else "-inf"


def _set_entry(comparison: Comparison, s: SetScores) -> dict[str, Any]:
    """The JSON-ready entry of one set: its protocol, summaries, clips and items."""
    labels = [*comparison.labels, BICUBIC]
    r0 = s.bicubic
    p = r0.protocol
    entry: dict[str, Any] = {
        "name": s.test_set.name,
        "path": s.test_set.path,
        "kind": s.test_set.kind,
        "layout": s.test_set.layout,
        "protocol": {"name": p.name, "y_channel": p.y_channel, "crop_border": r0.crop_border,
                     "aggregation": p.aggregation, "frames": p.frames, "description": p.description},
        "mean_label": "mean of clip means" if p.aggregation == "clip-mean" else "mean over images",
        "summary": {lab: dict(zip(("psnr", "ssim", "temporal_error"), map(_jv, s.summary(lab)))) for lab in labels},
    }
    if r0.frame_weighted is not None:
        entry["frame_weighted"] = {
            lab: {"psnr": _jv(s.results[lab].frame_weighted.psnr)}  # type: ignore[union-attr]
            for lab in comparison.labels
        } | {BICUBIC: {"psnr": _jv(r0.frame_weighted.bicubic_psnr)}}
    if r0.clips:
        entry["clips"] = []
        for c in r0.clips:
            row: dict[str, Any] = {"clip": c.clip, "frames": c.n_frames}
            for lab in comparison.labels:
                cs = next(x.scores for x in s.results[lab].clips if x.clip == c.clip)
                row[lab] = {"psnr": _jv(cs.psnr), "ssim": cs.ssim, "temporal_error": cs.temporal}
            row[BICUBIC] = {"psnr": _jv(c.scores.bicubic_psnr), "ssim": c.scores.bicubic_ssim,
                            "temporal_error": c.scores.bicubic_temporal}
            entry["clips"].append(row)
    entry["items"] = [
        {
            "clip": it.clip, "name": it.name, "index": it.index,
            "psnr": {**{lab: _jv(s.results[lab].items[k].psnr) for lab in comparison.labels},
                     BICUBIC: _jv(it.bicubic_psnr)},
            "ssim": {**{lab: s.results[lab].items[k].ssim for lab in comparison.labels}, BICUBIC: it.bicubic_ssim},
        }
        for k, it in enumerate(r0.items)
    ]
    entry["notes"] = list(r0.notes)
    return entry


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """JSON-ready dict of a :class:`Comparison`: models, protocols, summaries, clips, items, groups (no pixels)."""
    sets = [_set_entry(comparison, s) for s in comparison.sets]
    ref = comparison.labels[0]
    diffs = []
    for lab in comparison.labels[1:]:
        for s in comparison.sets:
            (ap, as_, at), (bp, bs, bt) = s.summary(lab), s.summary(ref)
            diffs.append({
                "set": s.test_set.name, "model": lab, "minus": ref,
                "psnr": None if ap is None or bp is None else ap - bp,
                "ssim": None if as_ is None or bs is None else as_ - bs,
                "temporal_error": None if at is None or bt is None else at - bt,
            })
    return {
        "scale": comparison.scale,
        "degradation": comparison.degradation,
        "device": comparison.device,
        "precision": comparison.precision,
        "models": [
            {"label": m.label, "source": m.source, "architecture": m.description, "params": m.params, "group": m.group}
            for m in comparison.models
        ],
        "sets": sets,
        "differences": diffs,
        "groups": [
            {"group": g.group, "set": g.set_name, "metric": g.metric, "values": list(g.values), "mean": g.mean,
             "range": g.spread, "delta_vs_first_group": g.delta,
             "paired_deltas": None if g.paired is None else list(g.paired)}
            for metric in ("psnr", "ssim", "temporal")
            for g in group_stats(comparison, metric)  # type: ignore[arg-type]
        ],
        "examples": [
            {"set": e.set_name, "clip": e.clip, "item": e.item, "spread_db": e.spread,
             "window": {"top": e.top, "left": e.left, "side": e.side}, "psnr": {k: _jv(v) for k, v in e.psnr.items()}}
            for e in comparison.examples
        ],
        "notes": list(comparison.notes),
    }


# --------------------------------------------------------------------------- and back


def _num(v: Any) -> Any:
    """The inverse of :func:`_jv`: ``"inf"``/``"-inf"`` back to floats; ``None`` and numbers as they are."""
    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return v
    if v in ("inf", "-inf"):
        return math.inf if v == "inf" else -math.inf
    raise InvalidInputError(f"{v!r} where a number was expected")


def _summary(scores: Mapping[str, Any], bicubic: Mapping[str, Any]) -> Summary:
    return Summary(
        psnr=_num(scores["psnr"]), ssim=_num(scores["ssim"]), bicubic_psnr=_num(bicubic["psnr"]),
        bicubic_ssim=_num(bicubic["ssim"]), temporal=_num(scores["temporal_error"]),
        bicubic_temporal=_num(bicubic["temporal_error"]),
    )


def _protocol(p: Mapping[str, Any], scale: int) -> Protocol:
    """The protocol as recorded; its shave comes from the registry when that gives the recorded crop, else it is
    the recorded crop itself (the JSON keeps the crop, not how it was derived from the scale)."""
    known = PROTOCOLS.get(p["name"])
    per_scale, extra = (known.shave_per_scale, known.shave_extra) if known is not None and \
        known.crop_border(scale) == p["crop_border"] else (0, int(p["crop_border"]))
    return Protocol(name=p["name"], y_channel=bool(p["y_channel"]), shave_per_scale=per_scale, shave_extra=extra,
                    aggregation=p["aggregation"], frames=p["frames"], description=p["description"])


def _set_degradation(name: str, conditions: list[str]) -> str:
    """The condition a set was scored under: ``set [spec]`` for the further conditions, else the first one
    (how :func:`vsr.compare._compare.compare_models` names them; the JSON keeps only the list)."""
    for spec in conditions[1:]:
        if name.endswith(f" [{spec}]"):
            return spec
    return conditions[0]


def _set_scores(entry: Mapping[str, Any], labels: list[str], scale: int, conditions: list[str]) -> SetScores:
    """One set's entry back into a :class:`SetScores`: one :class:`EvalResult` per label, bicubic in each."""
    p = entry["protocol"]
    if entry["kind"] not in ("image", "video"):
        raise InvalidInputError(f"set {entry['name']!r} has kind {entry['kind']!r}, not image or video")
    ts = TestSet(name=entry["name"], path=entry["path"], kind=entry["kind"], layout=entry["layout"],
                 degradation=_set_degradation(entry["name"], conditions))
    protocol = _protocol(p, scale)
    summary, items, clips = entry["summary"], entry["items"], entry.get("clips", [])
    fw = entry.get("frame_weighted")
    results: dict[str, EvalResult] = {}
    for lab in labels:
        # Only the PSNRs of the frame-weighted means are recorded: the rest of those summaries is unknown.
        weighted = None if fw is None else Summary(psnr=_num(fw[lab]["psnr"]), ssim=None,
                                                   bicubic_psnr=_num(fw[BICUBIC]["psnr"]), bicubic_ssim=math.nan)
        results[lab] = EvalResult(
            dataset=entry["path"], layout=entry["layout"], model=lab, scale=scale, protocol=protocol,
            degradation=ts.degradation, crop_border=int(p["crop_border"]),
            items=tuple(ItemScore(clip=it["clip"], name=it["name"], index=int(it["index"]), psnr=_num(it["psnr"][lab]),
                                  ssim=_num(it["ssim"][lab]), bicubic_psnr=_num(it["psnr"][BICUBIC]),
                                  bicubic_ssim=_num(it["ssim"][BICUBIC])) for it in items),
            clips=tuple(ClipSummary(clip=c["clip"], n_frames=int(c["frames"]), scores=_summary(c[lab], c[BICUBIC]))
                        for c in clips),
            mean=_summary(summary[lab], summary[BICUBIC]), frame_weighted=weighted, examples=(),
            notes=tuple(entry["notes"]),
        )
    return SetScores(ts, results)


def comparison_from_dict(data: Mapping[str, Any]) -> Comparison:
    """The :class:`Comparison` that :func:`comparison_to_dict` wrote ``data`` from, for every table and plot.

    ``comparison_to_dict(comparison_from_dict(d)) == d`` for such a ``d``; keys it does not write (``report``)
    are ignored. What the JSON does not hold is left empty: the examples' crops (pixels; ``crops/*.png`` hold
    them drawn), the evaluations' full-size examples, and the frame-weighted means' SSIM.

    Raises:
        InvalidInputError: ``data`` is not such a dict (a key missing, a value of the wrong type).
    """
    try:
        scale = int(data["scale"])
        models = tuple(ModelInfo(label=m["label"], source=m["source"], description=m["architecture"],
                                 params=int(m["params"]), group=m.get("group", "")) for m in data["models"])
        if not models:
            raise InvalidInputError("no models")
        labels = [m.label for m in models]
        conditions = str(data["degradation"]).split(", ")
        sets = tuple(_set_scores(entry, labels, scale, conditions) for entry in data["sets"])
        examples = tuple(
            DiffExample(set_name=e["set"], clip=e["clip"], item=e["item"], spread=float(e["spread_db"]),
                        top=int(e["window"]["top"]), left=int(e["window"]["left"]), side=int(e["window"]["side"]),
                        psnr={k: _num(v) for k, v in e["psnr"].items()}, crops={})
            for e in data["examples"]
        )
        return Comparison(scale=scale, models=models, sets=sets, examples=examples,
                          degradation=str(data["degradation"]), device=str(data["device"]),
                          precision=str(data["precision"]), notes=tuple(data["notes"]))
    except InvalidInputError as e:
        raise InvalidInputError(f"not a vsr comparison: {e}") from None
    except KeyError as e:
        raise InvalidInputError(f"not a vsr comparison: no {e.args[0]!r} entry") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise InvalidInputError(f"not a vsr comparison: {e}") from None
