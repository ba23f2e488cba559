# the encoders and skinning MLP start from the earlier MLP-decoder run (runs/v2: 42 min with 15 deg rotation
# jitter, then 5 min at 3 deg and 15 min at 1 deg); the bilinear decoder starts from scratch
python -m model_core.train --out runs/v3 --init-from runs/v2/checkpoint.pt --minutes 110 --total-samples 120000 \
    --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 3
# (stopped by hand at 105 min, right after its checkpoint, to leave time for evaluation)
