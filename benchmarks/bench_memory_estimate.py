"""The memory estimate that guards `vsr upscale` (vsr/inference/_memory.py) against the measured peak of one forward.

    python benchmarks/bench_memory_estimate.py

Each configuration runs in a fresh process (peak RSS, VmHWM, is per process): one forward of an untrained
model in inference mode, with the Upscaler's layout and precision. Prints the measured peak above the
baseline, the estimate and their ratio; the estimate should be >= the measurement (it may refuse or tile a
little early, never too late) and within about 1.5x of it.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys

CONFIGS = [  # preset, scale, width, height, batch, precision, tile
    ("edsr_baseline", 2, 320, 180, 1, "fp32", None),
    ("edsr_baseline", 2, 640, 360, 1, "fp32", None),
    ("edsr_baseline", 2, 640, 360, 2, "fp32", None),
    ("edsr_baseline", 2, 640, 360, 1, "bf16", None),
    ("edsr_baseline", 3, 320, 180, 1, "fp32", None),
    ("edsr_baseline", 4, 320, 180, 1, "fp32", None),
    ("edsr_baseline", 2, 1280, 720, 1, "fp32", 256),
    ("edsr", 2, 160, 90, 1, "fp32", None),
]

CHILD = r"""
import json, re, sys, torch
from vsr.inference._memory import estimate_bytes
from vsr.inference._upscaler import Upscaler
from vsr.models import get_model
preset, scale, w, h, b, prec, tile = json.loads(sys.argv[1])
torch.set_num_threads(2)
up = Upscaler(get_model(preset, scale=scale), scale=scale, device="cpu", precision=prec, batch_size=b, tile=tile)
frames = torch.randint(0, 256, (b, h, w, 3), dtype=torch.uint8)
def hwm():
    return int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024
base = hwm()
up(frames)
print(json.dumps({"measured": hwm() - base, "estimate": estimate_bytes(up, w, h)}))
"""


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    flags = ""
    try:
        flags = re.search(r"^Flags:\s*(.*)$", subprocess.run(["lscpu"], capture_output=True, text=True).stdout, re.M).group(1)  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()]
    print(f"CPU: {platform.processor() or platform.machine()} ({', '.join(isa) or 'flags unknown'}); python {platform.python_version()}")
    print(f"{'model':<14} {'x':>2} {'size':>9} {'batch':>5} {'prec':>5} {'tile':>5} {'measured':>9} {'estimate':>9} {'est/meas':>8}")
    for cfg in CONFIGS:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        preset, scale, w, h, b, prec, tile = cfg
        print(f"{preset:<14} {scale:>2} {f'{w}x{h}':>9} {b:>5} {prec:>5} {str(tile or '-'):>5} "
              f"{r['measured'] / 1e6:>7.0f}MB {r['estimate'] / 1e6:>7.0f}MB {r['estimate'] / max(r['measured'], 1):>8.2f}")


if __name__ == "__main__":
    main()
