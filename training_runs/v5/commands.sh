# nfs_v3 = runs/v5, the end of a chain of runs (each --init-from the previous one's checkpoint, fresh Adam):
# runs/v2 (62 min, MLP decoder; encoders kept) -> runs/v3 (105 min, bilinear decoder from scratch; nfs_v2)
#   -> runs/ab_B (8 min, + the 'singles' loss term; run beside a same-length A/B twin without it, 1 thread each)
#   -> runs/v4 (10 min, stopped by hand to start the face-frame run) -> runs/v5 (100 min, dec_frame "face").
python -m model_core.training.train --out runs/ab_B --init-from runs/v3/checkpoint.pt --init-decoder --minutes 8 \
    --total-samples 4000 --lr 3e-4 --lr-min 2e-5 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 \
    --seed 11 --threads 1 --loss-weight singles=10
python -m model_core.training.train --out runs/v4 --init-from runs/ab_B/checkpoint.pt --init-decoder --minutes 80 \
    --total-samples 70000 --lr 3e-4 --lr-min 2e-5 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 5
# (stopped after 10 min, at its checkpoint)
echo '{"dec_frame": "face"}' > runs/face.json
python -m model_core.training.train --out runs/v5 --config runs/face.json --init-from runs/v4/checkpoint.pt --init-decoder \
    --minutes 100 --total-samples 95000 --lr 5e-4 --lr-min 2e-5 --max-rotation 1 --decoder-faces 1500 \
    --template-verts 1000 --seed 7
# (stopped after 15 min at its checkpoint: 5 steps/s, so its schedule would have ended at 40 min; resumed with a
#  longer cosine; --resume keeps Adam's state and the sample counter)
python -m model_core.training.train --out runs/v5 --resume --minutes 84 --total-samples 240000 --lr 5e-4 --lr-min 2e-5 \
    --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 7
# (stopped at 85 min in all, 91,616 samples, where the cosine was still at
#  3.5e-4 (2.5-6 steps/s: the data worker, and for a while side experiments on the same 2 cores, held it back); resumed with a schedule that ends at 120,000 samples, i.e. the learning rate dropped to ~1e-4 and
#  annealed to 2e-5 over the last 16 min)
python -m model_core.training.train --out runs/v5 --resume --minutes 16 --total-samples 120000 --lr 5e-4 --lr-min 2e-5 \
    --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 7
