# w1: the first chunk of a chain beyond ICT's identity space (issue 18, training data: dataset/warps.py), from nfs_v4's
# run (training_runs/v7) with a fresh Adam; 90 min on the 2-core CPU machine (session 11), 9902 steps, 79,216 samples.
# 30 % of the groups warped (smooth bumps, feature and stylised proportions, caricatures), 20 % face masks as before.
# (In this run a caricature's identity terms were off like a warped face's; prepare_group keeps them on since.)
# Not shipped: see docs/model.md, *Training faces outside ICT's identity space*.
echo '{"dec_frame": "face"}' > runs/face8.json
python -m model_core.training.train --out runs/w1 --config runs/face8.json --init-from training_runs/v7/checkpoint.pt \
    --init-decoder --minutes 90 --schedule time --lr 1.5e-4 --lr-min 1e-5 --mask-prob 0.2 --warp-prob 0.3 \
    --loss-weight vertex_abs=2 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 11 --no-progress
python -m model_core.training.export runs/w1/checkpoint.pt runs/w1/nfs_w1
python scripts/warped_eval.py --weights model_core/weights/nfs_v4.npz,runs/w1/nfs_w1.npz --identities 2 --per-kind 3
python -m model_core.evaluation.evaluate --weights runs/w1/nfs_w1 --identities 3 --random 15 --seed 1234
python -m model_core.evaluation.evaluate --real ../shared/data/real_faces --weights runs/w1/nfs_w1
