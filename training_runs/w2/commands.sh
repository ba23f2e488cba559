# nfs_v5 = w2, the second chunk of issue 18's chain beyond ICT's identity space, on the 2-core CPU machine:
# nfs_v4 (training_runs/v7) -> w1 (90 min, 30 % of the groups warped; training_runs/w1/commands.sh) -> w2 (90 min,
# 12 % warped, a lower learning rate annealed to 5e-6), each --init-from the previous checkpoint with a fresh Adam.
# w2 (session 12): 9,085 steps, 72,680 samples; the chain has used 180 of its 8 h.
echo '{"dec_frame": "face"}' > runs/face8.json
python -m model_core.training.train --out runs/w2 --config runs/face8.json --init-from training_runs/w1/checkpoint.pt \
    --init-decoder --minutes 90 --schedule time --lr 1e-4 --lr-min 5e-6 --mask-prob 0.2 --warp-prob 0.12 \
    --loss-weight vertex_abs=2 --max-rotation 1 --decoder-faces 1500 --template-verts 1000 --seed 12 --no-progress
python -m model_core.training.export runs/w2/checkpoint.pt model_core/weights/nfs_v5
python -m model_core.evaluation.evaluate --weights model_core/weights/nfs_v5 --identities 3 --random 15 --seed 1234 \
    --json docs/model_card_eval.json
python -m model_core.evaluation.evaluate --weights model_core/weights/nfs_v5 --identities 1 --random 5 --seed 1234 \
    --json docs/model_card_eval_quick.json
python scripts/warped_eval.py --weights model_core/weights/nfs_v4.npz,model_core/weights/nfs_v5.npz --identities 2 --per-kind 3
python -m model_core.evaluation.evaluate --real ../shared/data/real_faces --weights model_core/weights/nfs_v5
python scripts/make_model_card.py --run training_runs/w2 --weights model_core/weights/nfs_v5
