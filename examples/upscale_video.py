"""Upscale a video with the library: the one-call way, then the same thing frame batch by frame batch.

    python examples/upscale_video.py examples/sample.mp4 --model edsr_baseline_x2.pt
"""

import argparse
from pathlib import Path

from vsr import Upscaler, upscale_video
from vsr.io import VideoReader, VideoWriter
from vsr.models import default_model_name

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("src", type=Path)
parser.add_argument("--model", default=None, help="checkpoint file or bundled name (default: bundled x2)")
args = parser.parse_args()
model = args.model or default_model_name(2)

# 1. One call: threads for decode and encode, audio/subtitles copied, timestamps and colours kept.
stats = upscale_video(args.src, args.src.with_name(f"{args.src.stem}_x2.mp4"), scale=2, model=model, overwrite=True)
print(stats.summary())

# 2. By hand, to do something of your own to each batch (single-threaded, same output format).
upscaler = Upscaler(model, scale=2, batch_size=4)
with VideoReader(args.src, batch_size=4) as reader:
    info = reader.info
    dst = args.src.with_name(f"{args.src.stem}_x2_manual.mkv")
    with VideoWriter(dst, width=info.width * 2, height=info.height * 2, source=info, crf=20, overwrite=True) as writer:
        for batch in reader:
            writer.write(upscaler(batch.frames), batch.pts, batch.durations)
print(f"{writer.frames_written} frames -> {dst}")
