"""vsr's private core: the primitives every other package builds on, each knowing nothing of what uses it.

- ``_files``: every file write (atomic), destination locks, hashes, the one safe ``torch.load``;
- ``_cache``: where vsr's cache folder is and what it holds;
- ``_lazy``: the PEP 562 lazy re-exports of package ``__init__`` files;
- ``_malloc``: glibc malloc settings for the ``vsr`` command;
- ``_config``: the TOML-table-to-dataclass builder of recipes;
- ``_prefetch``: the one producer/consumer thread;
- ``_distributed``: rank, world size and device under torchrun;
- ``_cpu``: the CPU's name, flags and kind (what a recorded speed applies to);
- ``_device``: device and precision choice;
- ``_render``: tiles, PNG, crops, text/Markdown/HTML tables and pages;
- ``_plots``: line and bar plots as PNG bytes (the only module that imports matplotlib, on first use);
- ``_interrupt``: Ctrl-C for the ``vsr`` command, raised only where Python code can unwind it.

Private to vsr: other packages import these names from ``vsr._core``, never from its modules. Names are
imported on first use (PEP 562), so that ``import vsr`` and ``vsr --help`` pay for neither torch, OpenCV
nor matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core._lazy import lazy_attributes as lazy_attributes

_LAZY: dict[str, str] = {
    "cache_dir": "vsr._core._cache",
    "CACHE_ENV": "vsr._core._cache",
    "CONTENTS": "vsr._core._cache",
    "INDUCTOR": "vsr._core._cache",
    "OPENVINO": "vsr._core._cache",
    "PLANS": "vsr._core._cache",
    "usage": "vsr._core._cache",
    "build_dataclass": "vsr._core._config",
    "coerce_value": "vsr._core._config",
    "flatten": "vsr._core._config",
    "read_toml": "vsr._core._config",
    "CPU_KINDS": "vsr._core._cpu",
    "cpu_info": "vsr._core._cpu",
    "cpu_kind": "vsr._core._cpu",
    "autocast_dtype": "vsr._core._device",
    "cpu_has_native_bf16": "vsr._core._device",
    "Precision": "vsr._core._device",
    "PRECISIONS": "vsr._core._device",
    "resolve_device": "vsr._core._device",
    "resolve_precision": "vsr._core._device",
    "warn_if_emulated": "vsr._core._device",
    "dist_env": "vsr._core._distributed",
    "DistEnv": "vsr._core._distributed",
    "Group": "vsr._core._distributed",
    "Progress": "vsr._core._distributed",
    "rank_device": "vsr._core._distributed",
    "sigterm_as_interrupt": "vsr._core._distributed",
    "atomic_open": "vsr._core._files",
    "atomic_torch_save": "vsr._core._files",
    "AtomicFile": "vsr._core._files",
    "destination_lock": "vsr._core._files",
    "load_torch_file": "vsr._core._files",
    "remove_stale_partials": "vsr._core._files",
    "sha256_file": "vsr._core._files",
    "write_bytes": "vsr._core._files",
    "write_csv": "vsr._core._files",
    "write_text": "vsr._core._files",
    "safe_interrupts": "vsr._core._interrupt",
    "keep_freed_memory": "vsr._core._malloc",
    "bar_plot": "vsr._core._plots",
    "line_plot": "vsr._core._plots",
    "palette": "vsr._core._plots",
    "REFERENCE_COLOUR": "vsr._core._plots",
    "Prefetcher": "vsr._core._prefetch",
    "Sink": "vsr._core._prefetch",
    "clock_text": "vsr._core._render",
    "crop": "vsr._core._render",
    "crop_window": "vsr._core._render",
    "encode_png": "vsr._core._render",
    "html_document": "vsr._core._render",
    "html_table": "vsr._core._render",
    "markdown_table": "vsr._core._render",
    "number_text": "vsr._core._render",
    "png_data_uri": "vsr._core._render",
    "render_tiles": "vsr._core._render",
    "slug": "vsr._core._render",
    "text_table": "vsr._core._render",
}

if TYPE_CHECKING:
    from vsr._core._cpu import CPU_KINDS as CPU_KINDS, cpu_info as cpu_info, cpu_kind as cpu_kind
    from vsr._core._cache import (
        cache_dir as cache_dir,
        CACHE_ENV as CACHE_ENV,
        CONTENTS as CONTENTS,
        INDUCTOR as INDUCTOR,
        OPENVINO as OPENVINO,
        PLANS as PLANS,
        usage as usage,
    )
    from vsr._core._config import (
        build_dataclass as build_dataclass,
        coerce_value as coerce_value,
        flatten as flatten,
        read_toml as read_toml,
    )
    from vsr._core._device import (
        autocast_dtype as autocast_dtype,
        cpu_has_native_bf16 as cpu_has_native_bf16,
        Precision as Precision,
        PRECISIONS as PRECISIONS,
        resolve_device as resolve_device,
        resolve_precision as resolve_precision,
        warn_if_emulated as warn_if_emulated,
    )
    from vsr._core._distributed import (
        dist_env as dist_env,
        DistEnv as DistEnv,
        Group as Group,
        Progress as Progress,
        rank_device as rank_device,
        sigterm_as_interrupt as sigterm_as_interrupt,
    )
    from vsr._core._files import (
        atomic_open as atomic_open,
        atomic_torch_save as atomic_torch_save,
        AtomicFile as AtomicFile,
        destination_lock as destination_lock,
        load_torch_file as load_torch_file,
        remove_stale_partials as remove_stale_partials,
        sha256_file as sha256_file,
        write_bytes as write_bytes,
        write_csv as write_csv,
        write_text as write_text,
    )
    from vsr._core._interrupt import safe_interrupts as safe_interrupts
    from vsr._core._malloc import keep_freed_memory as keep_freed_memory
    from vsr._core._plots import (
        bar_plot as bar_plot,
        line_plot as line_plot,
        palette as palette,
        REFERENCE_COLOUR as REFERENCE_COLOUR,
    )
    from vsr._core._prefetch import Prefetcher as Prefetcher, Sink as Sink
    from vsr._core._render import (
        clock_text as clock_text,
        crop as crop,
        crop_window as crop_window,
        encode_png as encode_png,
        html_document as html_document,
        html_table as html_table,
        markdown_table as markdown_table,
        number_text as number_text,
        png_data_uri as png_data_uri,
        render_tiles as render_tiles,
        slug as slug,
        text_table as text_table,
    )


__getattr__, __dir__ = lazy_attributes("vsr._core", _LAZY, globals())

__all__ = [
    "lazy_attributes",
    "CPU_KINDS",
    "cpu_info",
    "cpu_kind",
    "atomic_open",
    "atomic_torch_save",
    "AtomicFile",
    "autocast_dtype",
    "bar_plot",
    "build_dataclass",
    "cache_dir",
    "CACHE_ENV",
    "clock_text",
    "coerce_value",
    "CONTENTS",
    "cpu_has_native_bf16",
    "crop",
    "crop_window",
    "destination_lock",
    "dist_env",
    "DistEnv",
    "encode_png",
    "flatten",
    "Group",
    "html_document",
    "html_table",
    "INDUCTOR",
    "keep_freed_memory",
    "line_plot",
    "load_torch_file",
    "markdown_table",
    "number_text",
    "OPENVINO",
    "palette",
    "PLANS",
    "png_data_uri",
    "Precision",
    "PRECISIONS",
    "Prefetcher",
    "Progress",
    "rank_device",
    "read_toml",
    "REFERENCE_COLOUR",
    "remove_stale_partials",
    "safe_interrupts",
    "render_tiles",
    "resolve_device",
    "resolve_precision",
    "sha256_file",
    "sigterm_as_interrupt",
    "Sink",
    "slug",
    "text_table",
    "usage",
    "warn_if_emulated",
    "write_bytes",
    "write_csv",
    "write_text",
]
