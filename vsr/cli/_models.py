"""`vsr models`: the architecture presets, the bundled weights, the authors' official models and vsr's caches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

__all__ = ["models_cmd"]


@click.command("models")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--fetch", is_flag=True,
              help="Download the named official models (edsr_x2 ... mdsr, or a preset such as edsr for all its "
                   "scales) into the cache now.")
@click.option("--offline", is_flag=True, help="Never touch the network (also VSR_OFFLINE=1).")
def models_cmd(names: tuple[str, ...], fetch: bool, offline: bool) -> None:
    """List architecture presets, bundled weights and the authors' official models (cached or not), and vsr's caches.

    `vsr models --fetch edsr_x2 mdsr` prefetches official files, e.g. before
    going offline. Scores marked "published" are the authors', not measured by vsr.
    """
    # Nothing here imports torch: presets and parameter counts are literal tables, weights are described by
    # their manifest, and official files by name and cache state.
    from vsr.models import OFFICIAL_WEIGHTS, PRESET_PARAMETERS, bundled_weights, cache_dir, cached_path, official_file

    MODELS = tuple(PRESET_PARAMETERS)

    if names and not fetch:
        raise click.UsageError("NAME arguments go with --fetch, e.g. `vsr models --fetch edsr_x2`")
    if fetch:
        if not names:
            raise click.UsageError(f"--fetch needs names: {', '.join(OFFICIAL_WEIGHTS)} (or a preset: {', '.join(MODELS)})")
        wanted: list[str] = []
        for n in names:
            group = [w.name for w in OFFICIAL_WEIGHTS.values() if w.preset == n] if n in MODELS else [n]
            wanted += [g for g in group if g not in wanted]
        for n in wanted:
            path = official_file(n, offline=offline or None)
            click.echo(f"{n}: {path}")
        return
    # Parameter counts are read from the presets table and the weights manifest: listing builds no model.
    click.echo("Architecture presets (untrained; pass a checkpoint with --model):")
    for name in MODELS:
        if name.startswith("mdsr"):
            click.echo(f"  {name:<15} x2/x3/x4   {PRESET_PARAMETERS[name][2] / 1e6:6.2f}M params")
        else:
            counts = ", ".join(f"x{s} {PRESET_PARAMETERS[name][s] / 1e6:.2f}M" for s in (2, 3, 4))
            click.echo(f"  {name:<15} {counts} params")
    weights = bundled_weights()
    click.echo("Bundled weights:" if weights else "Bundled weights: none installed")
    for w in weights.values():
        scales = "/".join(f"x{s}" for s in w.config["scales"])
        default = f"  default for {'/'.join(f'x{s}' for s in w.default_for)}" if w.default_for else ""
        if w.variant_of and (w.below_bpp is not None or w.max_jpeg_quality is not None):
            rules = ([f"video under {w.below_bpp:g} bits/pixel"] if w.below_bpp is not None else []) + (
                [f"JPEG quality <= {w.max_jpeg_quality}"] if w.max_jpeg_quality is not None else [])
            default = f"  instead of {w.variant_of} for {' or '.join(rules)}"
        set5 = w.metrics.get("Set5", {})
        psnr = "  Set5 " + ", ".join(f"x{k}: {v['psnr']:.2f} dB" for k, v in sorted(set5.items())) if set5 else ""
        click.echo(f"  {w.name:<33} {scales}  {w.params / 1e6:.2f}M params{psnr}{default}")
    _ladder(weights, OFFICIAL_WEIGHTS)
    click.echo(f"Official models (the authors' files, --model PRESET --scale S; fetched on first use into {cache_dir()}):")
    for w in OFFICIAL_WEIGHTS.values():
        state = "cached" if cached_path(w.file).is_file() else "not cached"
        scores = ", ".join(f"{ds} " + "/".join(f"x{s} {v:.2f}" for s, v in sorted(by.items())) for ds, by in w.published.items())
        click.echo(f"  {w.name:<17} {'/'.join(f'x{s}' for s in w.scales):<9} {PRESET_PARAMETERS[w.preset][w.scales[0]] / 1e6:6.2f}M params"
                   f"  {state:<10}  published: {scores} dB")
    click.echo("  (published = the authors' figures: Set5/Set14 Y channel, DIV2K-val RGB; not measured by vsr)")
    from vsr._core import CACHE_ENV, CONTENTS, cache_dir as vsr_cache, usage

    click.echo(f"vsr's cache ({vsr_cache()}, ${CACHE_ENV} to move it; safe to delete, rebuilt when needed):")
    used = usage()
    for name, files, size in used:
        click.echo(f"  {name:<9} {files:6d} files {size / 2**20:9.1f} MiB  {CONTENTS.get(name, '')}".rstrip())
    if not used:
        click.echo("  empty")


def _ladder(weights: Mapping[str, Any], official: Mapping[str, Any]) -> None:
    """The speed/quality ladder: each rung's Set5/Vid4 PSNR and its speed measured on this machine's kind of CPU."""
    from vsr._core import CPU_KINDS, cpu_kind
    from vsr.errors import CheckpointError
    from vsr.models import LADDER, bundled_rung_name, recorded_speeds

    kind = cpu_kind()
    record = recorded_speeds(kind)
    if record:
        where = (f"model-only fps at {record['size']} input, {record['precision']}, measured on {CPU_KINDS[kind]} "
                 f"({record['cpu']}, {record['date']}; benchmarks/bench_ladder.py)")
    else:
        where = f"speeds not measured on this kind of CPU ({kind}): python benchmarks/bench_ladder.py measures them"
    click.echo(f"Speed/quality ladder (--model NAME, fastest first; PSNR-Y dB; {where}):")
    scales = (2, 4)
    head = "".join(f"  x{s}: Set5   Vid4    fps" for s in scales)
    click.echo(f"  {'rung':<16}{head}")
    fps_of = (record or {}).get("fps_model", {})
    for rung in LADDER:
        cells = []
        for s in scales:
            set5 = vid4 = None
            if rung.bundled:
                try:
                    metrics = weights[bundled_rung_name(rung.name, s)].metrics
                except CheckpointError:  # no weights of this rung at this scale
                    metrics = {}
                set5 = metrics.get("Set5", {}).get(str(s), {}).get("psnr")
                vid4 = metrics.get("Vid4", {}).get(str(s), {}).get("psnr")
            else:
                published = official.get(f"{rung.preset}_x{s}")
                set5 = published.published.get("Set5", {}).get(s) if published else None
            fps = fps_of.get(f"x{s}", {}).get(rung.name)
            cells.append(f"  {_num(set5, 6, 2)}{'*' if set5 is not None and not rung.bundled else ' '}"
                         f"{_num(vid4, 6, 2)} {_num(fps, 6, 2)}")
        click.echo(f"  {rung.label:<16}{''.join(cells)}".rstrip())
    click.echo("  (* published by the authors, not measured by vsr; - not measured)")


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"
