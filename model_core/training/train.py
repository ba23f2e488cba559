"""Train the neural face skinning model on CPU: ``python -m model_core.training.train --out runs/v1 --minutes 110``.

Each step takes one face group (one identity and topology, ``--n-expr`` expressions) from the
augmented ICT stream, prepared by a background worker process. Checkpoints (``checkpoint.pt``) are
written every ``--ckpt-every`` seconds and at the end; ``--resume`` continues from one (model, optimiser,
step, sample count, elapsed time). ``config.json`` beside the checkpoint records the model config and
the arguments; ``log.csv`` records every loss term.
"""
from __future__ import annotations

import os

# numpy's OpenBLAS must be single-threaded here: the data worker's dense eigh slows ~20x when its BLAS
# threads compete with torch's (measured 0.37 s vs 8.8 s for a 1000x1000 eigh on 2 busy cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..dataset.batch import prepare_group
from ..dataset.ict import load_ict
from ..runtime.config import ModelConfig
from .losses import DEFAULT_WEIGHTS, compute_losses, to_tensors
from .network import FaceSkinningNet


BANK_PER_SIZE = 3  # topologies per (crop, size) in the training bank


class GroupStream(torch.utils.data.IterableDataset):
    """Endless stream of prepared face groups (numpy dicts); deterministic given (seed, start)."""

    def __init__(self, cfg: ModelConfig, seed: int, start: int, n_expr: int, ict_path=None, small_bank=False,
                 max_rotation: float = 1.0, n_faces: int = 600, n_template: int = 500, mask_prob: float = 0.0,
                 warp_prob: float = 0.0, socket_prob: float = 0.0):
        self.cfg, self.seed, self.start, self.n_expr = cfg, seed, start, n_expr
        self.socket_prob = socket_prob
        self.max_rotation, self.n_faces, self.n_template = max_rotation, n_faces, n_template
        self.ict_path, self.small_bank, self.mask_prob, self.warp_prob = ict_path, small_bank, mask_prob, warp_prob

    def __iter__(self):
        from ..dataset.remesh import TopologyBank
        from ..dataset.sampler import FaceSampler
        from ..runtime.regions import load_ict_labels
        ict = load_ict(self.ict_path)
        labels = load_ict_labels()
        info = torch.utils.data.get_worker_info()     # several workers: one stream each
        stream_seed = self.seed * 1_000_003 + self.start + (info.id * 100_003 if info is not None else 0)
        bank = (TopologyBank(ict, seed=self.seed, sizes=(1000,)) if self.small_bank
                else TopologyBank(ict, seed=self.seed, per_size=BANK_PER_SIZE))
        sampler = FaceSampler(ict, labels, seed=stream_seed, bank=bank, n_expr=self.n_expr,
                              max_angle_deg=self.max_rotation, mask_prob=self.mask_prob, warp_prob=self.warp_prob,
                              socket_prob=self.socket_prob)
        rng = np.random.default_rng(stream_seed + 7)
        while True:
            g = sampler.sample_group()
            yield prepare_group(g, ict, self.cfg, rng, template_labels=labels, n_faces=self.n_faces,
                                n_template=self.n_template)


def lr_at(samples: int, total: int, lr0: float, lr_min: float) -> float:
    """Cosine decay from lr0 to lr_min over ``total`` units (samples, or seconds with --schedule time), constant
    after."""
    x = min(1.0, samples / max(total, 1))
    return lr_min + 0.5 * (lr0 - lr_min) * (1.0 + math.cos(math.pi * x))


def save_checkpoint(path: Path, model, opt, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                "config": asdict(model.cfg)}, tmp)
    os.replace(tmp, path)


def load_model(path: str | os.PathLike) -> FaceSkinningNet:
    """Load a trained model from a ``checkpoint.pt`` (eval mode)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = FaceSkinningNet(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def grow(src: torch.Tensor, own: torch.Tensor) -> torch.Tensor | None:
    """``src`` for a parameter shaped like ``own``: itself when the shapes match; when ``own`` is larger along
    some axes (e.g. the skinning encoder's output layer gaining the 3 identity-offset channels), ``src`` in the
    leading corner and zeros elsewhere (so the new outputs start at 0); otherwise None (not taken)."""
    if src.shape == own.shape:
        return src
    if src.dim() != own.dim() or any(a > b for a, b in zip(src.shape, own.shape)):
        return None
    out = torch.zeros_like(own)
    out[tuple(slice(0, n) for n in src.shape)] = src
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m model_core.training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, config.json, log.csv)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    p.add_argument("--minutes", type=float, default=110.0, help="wall-clock budget of this run")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps of this run (0 = no limit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-expr", type=int, default=8, help="expressions per face group (share one encoder pass)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=5e-5)
    p.add_argument("--total-samples", type=int, default=120_000, help="length of the cosine schedule, all runs")
    p.add_argument("--schedule", choices=("samples", "time"), default="samples",
                   help="what the cosine decay runs over: --total-samples (all runs together), or this run's "
                        "--minutes (for a machine whose speed is not known in advance, e.g. a GPU)")
    p.add_argument("--teacher", type=float, default=0.7,
                   help="share of steps whose decoder sees the true FACS code (teacher forcing)")
    p.add_argument("--max-rotation", type=float, default=1.0,
                   help="largest augmentation rotation in degrees (the runtime assumes upright heads in the "
                        "user's stated axes; the decoder reads canonical positions, so a random tilt in training "
                        "blurs every FACS field: a 7.5 deg misalignment alone costs ~37 %% relative error)")
    p.add_argument("--mask-prob", type=float, default=0.0,
                   help="share of groups cut to a face mask around the nose tip (sampler.FaceSampler.mask_topology), "
                        "so that the skinning and the face frame learn scanned face masks too")
    p.add_argument("--warp-prob", type=float, default=0.0,
                   help="share of groups warped out of ICT's identity space (dataset/warps.py: smooth bumps, feature "
                        "and stylised proportions, caricatures; the same map on the neutral and the posed faces)")
    p.add_argument("--socket-prob", type=float, default=0.0,
                   help="share of full/face groups with ICT's mouth bag and/or eye sockets joined at their openings "
                        "(dataset/sockets.py), as game heads carry them")
    p.add_argument("--decoder-faces", type=int, default=600,
                   help="faces per group whose corners train the decoder (vertex, normal, edge terms)")
    p.add_argument("--template-verts", type=int, default=500,
                   help="ICT-template vertices per group for the blendshape-consistency terms")
    p.add_argument("--init-from", help="checkpoint whose same-named, same-shaped encoder and skinning parameters "
                                       "start a fresh run (the decoder, dec_*, starts from scratch unless "
                                       "--init-decoder); the optimiser and the schedule start afresh")
    p.add_argument("--init-decoder", action="store_true", help="with --init-from: take the decoder's parameters too")
    p.add_argument("--loss-weight", action="append", default=[], metavar="TERM=VALUE",
                   help="override one loss weight, e.g. --loss-weight singles=0 (repeatable)")
    p.add_argument("--ckpt-every", type=float, default=300.0, help="seconds between checkpoints")
    p.add_argument("--workers", type=int, default=1, help="data worker processes (0 = in the main process)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--device", default="cpu",
                   help="torch device for the model, e.g. cuda (the data stay on the CPU workers)")
    p.add_argument("--config", help="JSON file of ModelConfig overrides")
    p.add_argument("--smoke", action="store_true", help="tiny model and topology bank (CI smoke test)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


class UsageError(ValueError):
    """A command-line value that cannot run; ``main`` prints it after "error: " and exits with status 2."""


def validate(args) -> tuple[torch.device, dict]:
    """Check the arguments before anything is built. Returns (torch device, loss weights with the
    ``--loss-weight`` overrides). Raises UsageError with what to fix."""
    try:
        device = torch.device(args.device)
    except RuntimeError:
        device = None
    if device is None or (device.type == "cuda" and not torch.cuda.is_available()):
        raise UsageError(f"--device {args.device!r}: " + ("not a torch device name (e.g. cpu, cuda, cuda:1)"
                         if device is None else "no CUDA device is available to this torch build; use --device cpu"))
    if not 0.0 <= args.mask_prob <= 1.0:
        raise UsageError(f"--mask-prob {args.mask_prob}: expected a share between 0 and 1")
    if not 0.0 <= args.warp_prob <= 1.0:
        raise UsageError(f"--warp-prob {args.warp_prob}: expected a share between 0 and 1")
    if not 0.0 <= args.socket_prob <= 1.0:
        raise UsageError(f"--socket-prob {args.socket_prob}: expected a share between 0 and 1")
    loss_weights = dict(DEFAULT_WEIGHTS)
    for spec in args.loss_weight:
        name, _, value = spec.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if name not in DEFAULT_WEIGHTS or not math.isfinite(weight) or weight < 0:
            raise UsageError(f"--loss-weight {spec!r}: expected TERM=VALUE with TERM one of "
                             f"{', '.join(DEFAULT_WEIGHTS)} and VALUE a number >= 0")
        loss_weights[name] = weight
    return device, loss_weights


def build_or_resume(args, ck_path: Path, device) -> tuple[ModelConfig, FaceSkinningNet, torch.optim.Optimizer, dict]:
    """The model, its optimiser and the run state: fresh (``--config``/``--smoke`` sizes, optionally started from
    ``--init-from``), or continued from ``ck_path`` with ``--resume``. Returns (cfg, model, opt, state)."""
    from ..runtime.regions import REGION_NAMES
    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    if args.smoke:
        overrides = {"enc_width": 16, "enc_blocks": 1, "dec_width": 32, "dec_layers": 1, "k_eig": 16,
                     "proxy_target": 200, "skin_hidden": 16, **overrides}
    cfg = ModelConfig(n_regions=len(REGION_NAMES), **overrides)
    model = FaceSkinningNet(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    state = {"step": 0, "samples": 0, "elapsed_s": 0.0, "runs": []}
    if args.resume:
        if not ck_path.is_file():
            raise UsageError(f"--resume given but {ck_path} does not exist")
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        cfg = ModelConfig.from_dict(ck["config"])
        model = FaceSkinningNet(cfg).to(device)
        model.load_state_dict(ck["model"])
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        opt.load_state_dict(ck["opt"])          # (moves Adam's state onto the parameters' device)
        state = ck["state"]
        print(f"resumed from {ck_path}: step {state['step']}, {state['samples']} samples, "
              f"{state['elapsed_s'] / 60:.1f} min trained")
    elif args.init_from:
        src_ck = torch.load(args.init_from, map_location="cpu", weights_only=False)
        src = src_ck["model"]
        state["init_from"] = {"checkpoint": str(args.init_from), "state": src_ck.get("state", {}),
                              "decoder": bool(args.init_decoder)}
        own = model.state_dict()
        take = {k: g for k, v in src.items()
                if (args.init_decoder or not k.startswith("dec_")) and k in own
                and (g := grow(v, own[k])) is not None}
        model.load_state_dict(take, strict=False)
        print(f"initialised {len(take)} of {len(own)} arrays from {args.init_from}")
    return cfg, model, opt, state


class RunLog:
    """``log.csv`` (one row of every loss term per step, appended across runs), the running averages of the
    terms and the progress bar."""

    TERMS = list(DEFAULT_WEIGHTS)

    def __init__(self, out: Path, args):
        new = not (out / "log.csv").exists()
        self.file = open(out / "log.csv", "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(["step", "samples", "elapsed_s", "lr", "total"] + self.TERMS)
        try:
            from tqdm import tqdm
            self.bar = None if args.no_progress else tqdm(total=args.steps or None, unit="step", dynamic_ncols=True)
        except ImportError:
            self.bar = None
        self.ema: dict = {}

    def step(self, state: dict, lr: float, total: float, terms: dict, rate) -> None:
        """Record one step; ``rate()`` gives samples/s for the bar (only called when there is one)."""
        for name, v in terms.items():
            self.ema[name] = v if name not in self.ema else 0.95 * self.ema[name] + 0.05 * v
        self.writer.writerow([state["step"], state["samples"], round(state["elapsed_s"], 1), f"{lr:.3g}",
                              f"{total:.5g}"] + [f"{terms[n]:.5g}" for n in self.TERMS])
        if self.bar is not None:
            self.bar.set_postfix_str(" ".join(f"{n}={self.ema[n]:.3g}" for n in self.TERMS)
                                     + f" | {rate():.1f} samples/s")
            self.bar.update(1)

    def close(self) -> None:
        self.file.close()
        if self.bar is not None:
            self.bar.close()

    def summary(self) -> str:
        return ", ".join(f"{n}={self.ema[n]:.4g}" for n in self.TERMS)


def train_loop(args, model, opt, state: dict, loss_weights: dict, loader, log: RunLog, ck_path: Path,
               device) -> int:
    """Train until ``--steps`` steps or ``--minutes`` have passed in this run, checkpointing every
    ``--ckpt-every`` seconds; updates ``state`` in place. Returns this run's step count."""
    t_run = time.time()
    t_base = state["elapsed_s"]
    last_ck = time.time()
    run_steps = 0
    teacher_rng = np.random.default_rng(args.seed * 7919 + state["step"])
    model.train()
    for item in loader:
        if args.schedule == "time":
            lr = lr_at(int(time.time() - t_run), int(args.minutes * 60), args.lr, args.lr_min)
        else:
            lr = lr_at(state["samples"], args.total_samples, args.lr, args.lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        teacher = teacher_rng.random() < args.teacher
        total, terms = compute_losses(model, to_tensors(item, device), loss_weights, teacher=teacher)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        k = item["facs"].shape[0]
        state["step"] += 1
        state["samples"] += k
        run_steps += 1
        state["elapsed_s"] = t_base + time.time() - t_run
        log.step(state, lr, total.item(), terms, lambda: run_steps * k / max(time.time() - t_run, 1e-9))
        if time.time() - last_ck > args.ckpt_every:
            log.file.flush()
            save_checkpoint(ck_path, model, opt, state)
            last_ck = time.time()
        if (args.steps and run_steps >= args.steps) or (time.time() - t_run) > args.minutes * 60:
            break
    state["runs"].append({"steps": run_steps, "minutes": round((time.time() - t_run) / 60, 2),
                          "seed": args.seed, "threads": torch.get_num_threads(),
                          "max_rotation": args.max_rotation, "loss_weights": loss_weights,
                          "device": str(device), "workers": args.workers, "n_expr": args.n_expr,
                          "mask_prob": args.mask_prob, "warp_prob": args.warp_prob,
                          "socket_prob": args.socket_prob})
    return run_steps


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        device, loss_weights = validate(args)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ck_path = out / "checkpoint.pt"
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        cfg, model, opt, state = build_or_resume(args, ck_path, device)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (out / "config.json").write_text(json.dumps({"model": asdict(cfg), "args": vars(args),
                                                 "loss_weights": loss_weights}, indent=2))
    stream = GroupStream(cfg, args.seed, state["step"], args.n_expr, small_bank=args.smoke,
                         max_rotation=args.max_rotation, n_faces=args.decoder_faces,
                         n_template=args.template_verts, mask_prob=args.mask_prob, warp_prob=args.warp_prob,
                         socket_prob=args.socket_prob)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers,
                                         prefetch_factor=2 if args.workers else None)
    log = RunLog(out, args)
    train_loop(args, model, opt, state, loss_weights, loader, log, ck_path, device)
    save_checkpoint(ck_path, model, opt, state)
    log.close()
    print(f"saved {ck_path}: step {state['step']}, {state['samples']} samples, "
          f"{state['elapsed_s'] / 60:.1f} min in all; last terms: " + log.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
