# s2: 36 min from s1 (session 13) with a fresh Adam, a lower learning rate (5e-5 -> 3e-6) and fewer socket groups (12 %
# of the full/face heads), 12 % warped, 20 % masks; 3939 steps, 31,512 samples on the 2-core CPU machine. The chain from
# nfs_v4 has used 301 of issue 18's 8 hours. Not shipped (docs/model.md, *Joined mouth and eye sockets*): held-out ICT
# 0.2-1.0 points worse than nfs_v5; the hand-made dev head's default keys 112.2 -> 126.9 % (auto's blend, see there).
echo '{"dec_frame": "face"}' > runs/face8.json
python -m model_core.training.train --out runs/s2 --config runs/face8.json --init-from training_runs/s1/checkpoint.pt \
    --init-decoder --minutes 36 --schedule time --lr 5e-5 --lr-min 3e-6 --mask-prob 0.2 --warp-prob 0.12 \
    --socket-prob 0.12 --loss-weight vertex_abs=2 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 14 \
    --no-progress
python -m model_core.training.export runs/s2/checkpoint.pt runs/s2/nfs_s2
python scripts/sockets_eval.py --weights runs/s2/nfs_s2.npz --identities 3
python -m model_core.evaluation.evaluate --weights runs/s2/nfs_s2 --identities 3 --random 15 --seed 1234
python -m model_core.evaluation.evaluate --real ../shared/data/real_faces --weights runs/s2/nfs_s2
python scripts/warped_eval.py --weights runs/s2/nfs_s2.npz --identities 2 --per-kind 3
