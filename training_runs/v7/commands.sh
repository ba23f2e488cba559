# nfs_v4 = runs/v7, the end of a chain of runs (each --init-from the previous one's checkpoint, fresh Adam):
# nfs_v3's runs (training_runs/v5/commands.sh) -> runs/gA (8.6 min on one H100, same model, 100k samples)
#   -> runs/gL (3 min on the H100, + the vertex_abs loss term; run beside a same-length control without it)
#   -> runs/v7 (70 min on 2 CPU cores: central face core for the decoder frame, 20 % face-mask groups).
# The GPU runs: ICT-FaceKit and the seed-7 topology bank copied beside the checkout (NFS_ICT_DIR, NFS_CACHE_DIR);
# two runs shared the GPU and its 16 cores (7 data workers each); --schedule time anneals within --minutes.
echo '{"dec_frame": "face"}' > runs/face.json    # (before nfs_v4's config change: FACE_CORE had 11 regions)
python -m model_core.training.train --out runs/gA --config runs/face.json --init-from training_runs/v5/checkpoint.pt \
    --init-decoder --device cuda --workers 7 --threads 1 --minutes 8.6 --schedule time --lr 3e-4 --lr-min 2e-5 \
    --n-expr 16 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 7 --ckpt-every 60
# (gL was started from a model-only copy of runs/gA/checkpoint.pt, recorded as .devdata/gA.pt)
python -m model_core.training.train --out runs/gL --config runs/face.json --init-from runs/gA/checkpoint.pt \
    --init-decoder --device cuda --workers 7 --threads 1 --minutes 3 --schedule time --lr 1e-4 --lr-min 1e-5 \
    --n-expr 16 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 7 --ckpt-every 60 \
    --loss-weight vertex_abs=2
# the central face core is now config.FACE_CORE's default, so the same one-line config gives it:
echo '{"dec_frame": "face"}' > runs/face8.json
python -m model_core.training.train --out runs/v7 --config runs/face8.json --init-from runs/gL/checkpoint.pt \
    --init-decoder --minutes 70 --schedule time --lr 2e-4 --lr-min 1e-5 --mask-prob 0.2 \
    --loss-weight vertex_abs=2 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 7
