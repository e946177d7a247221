#!/bin/bash
# The Vid4 oracle (a diagnostic, never shipped): fine-tune the clean x2 model on the compressed test clips themselves,
# then score its snapshots on Vid4 under x264 crf 28 and 23. From the repository root, with ../shared/data present and
# runs/stages/edsr_baseline_x2_t91_bsd200_stage3.pt (the bundled clean x2, same bytes) in place:
#   bash examples/compressed_video/vid4_oracle/run.sh
set -euo pipefail
mkdir -p oracle/vid4/train_sharp
ln -sfn "$(cd ../shared/data/Vid4 && pwd)/calendar" oracle/vid4/train_sharp/calendar   # read in place, never copied
ln -sfn "$(cd ../shared/data/Vid4 && pwd)/city" oracle/vid4/train_sharp/city
vsr train -c examples/compressed_video/vid4_oracle/oracle_x2.toml --set train.name=vid4_oracle_x2
for snap in runs/vid4_oracle_x2/snapshots/iter_*.pt; do
  for crf in 28 23; do
    vsr eval -m "$snap" -d ../shared/data/Vid4 -s 2 --degradation bi+x264:crf=$crf --precision fp32 \
      -o "runs/vid4_oracle_x2/eval_$(basename "$snap" .pt)_crf$crf"
  done
done
