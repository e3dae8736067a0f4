"""The PyTorch side of the SE+SER training-speed comparison: wall-clock milliseconds per optimiser step
(zero_grad + forward + loss + backward + AdamW step) on CPU of the sequence network of
src/models/nets/seq.rs, in the "all" phase (everything trainable, loss = CE + 1.0*L1), on one fixed batch
of random float32 data. Prints one JSON line (mean and median ms per step over the timed steps, after the
warm-up steps, and the parameter count) on stdout and a human-readable line on stderr.

  input:    noisy log1p magnitudes (B, T, F), T even; per-bin (x - mean) / std with fixed buffers.
  stem:     reshape (B, T/2, 2F) -> Linear(2F, d) -> ReLU -> LayerNorm(d), + fixed sinusoidal positions.
  blocks:   `layers` pre-norm blocks: x + out(MHA(LN x)) with qkv Linear(d, 3d), explicit matmuls,
            scores / sqrt(dh) + key padding bias (B, 1, 1, T/2) (0 or -1e4); then x + ff2(ReLU(ff1(LN x))),
            ff1 Linear(d, hidden), ff2 Linear(hidden, d).
  mix:      per task, a softmax-weighted sum of [stem output, block outputs] (weights of length layers+1).
  enhance:  Linear(d, hidden) ReLU Linear(hidden, 2F) sigmoid -> (B, T, F) mask * noisy; L1 to clean over
            real frames: sum(|est - clean| summed over F * frame_mask) / (sum(frame_mask) * F).
  emotion:  attentive statistics pooling (score Linear(hidden, 1)(tanh(Linear(d, hidden) h)), softmax over
            steps with bias (step_mask - 1) * 1e4, weighted mean and std = sqrt(clamp(E[h^2] - mean^2,
            1e-5))) -> (B, 2d) -> Linear(2d, hidden) ReLU Linear(hidden, C); class-weighted cross-entropy
            sum(w * nll) / sum(w) (weights 1.0).
  AdamW(lr=2e-3, weight_decay=0.01). All examples are whole except the last, whose second half is padding.

    tools/.venv/bin/python tools/bench_se_ser.py [--threads 1] [--steps 30] [--warmup 5] [--frames 64]
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


def positions(t, d):
    """Fixed sinusoidal positions (t, d), as `positions` in seq.rs."""
    p = torch.arange(t, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(d)
    rate = 1.0 / 10_000.0 ** ((2 * (i // 2)).double() / d)
    a = p * rate
    return torch.where(i % 2 == 0, a.sin(), a.cos()).float()


class Block(nn.Module):
    """Pre-norm self-attention block: x + MHA(LN x), then x + FFN(LN x)."""

    def __init__(self, dim, hidden, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.ff1 = nn.Linear(dim, hidden)
        self.ff2 = nn.Linear(hidden, dim)
        self.heads = heads

    def forward(self, x, key_bias):
        b, t, d = x.shape
        dh = d // self.heads
        qkv = self.qkv(self.norm1(x))
        q, k, v = (qkv[:, :, i * d:(i + 1) * d].reshape(b, t, self.heads, dh).transpose(1, 2).contiguous()
                   for i in range(3))
        scores = q @ k.transpose(-2, -1).contiguous() / math.sqrt(dh) + key_bias
        attn = torch.softmax(scores, dim=-1)
        ctx = (attn @ v).transpose(1, 2).contiguous().reshape(b, t, d)
        x = x + self.out(ctx)
        return x + self.ff2(torch.relu(self.ff1(self.norm2(x))))


class SeqNet(nn.Module):
    def __init__(self, bins, dim, layers, heads, hidden, classes, mean, std, max_steps):
        super().__init__()
        self.bins = bins
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.stem = nn.Linear(2 * bins, dim)
        self.stem_norm = nn.LayerNorm(dim, eps=1e-5)
        self.blocks = nn.ModuleList([Block(dim, hidden, heads) for _ in range(layers)])
        self.enhance_layers = nn.Parameter(torch.zeros(layers + 1))
        self.emotion_layers = nn.Parameter(torch.zeros(layers + 1))
        self.se1, self.se2 = nn.Linear(dim, hidden), nn.Linear(hidden, 2 * bins)
        self.att1, self.att2 = nn.Linear(dim, hidden), nn.Linear(hidden, 1)
        self.cls1, self.cls2 = nn.Linear(2 * dim, hidden), nn.Linear(hidden, classes)
        self.register_buffer("positions", positions(max_steps, dim))

    def encode(self, noisy, key_bias):
        n, t, f = noisy.shape
        x = ((noisy - self.mean) / self.std).reshape(n, t // 2, 2 * f)  # (frame keep-mask skipped)
        h = self.stem_norm(torch.relu(self.stem(x))) + self.positions[: t // 2]
        outs = [h]
        for block in self.blocks:
            h = block(h, key_bias)
            outs.append(h)
        return outs

    @staticmethod
    def mix(outs, weights):
        w = torch.softmax(weights, dim=0)
        return (torch.stack(outs, 0) * w.reshape(len(outs), 1, 1, 1)).sum(0)

    def forward(self, noisy, key_bias, step_mask):
        outs = self.encode(noisy, key_bias)
        h = self.mix(outs, self.enhance_layers)
        n, t2, _ = h.shape
        m = torch.sigmoid(self.se2(torch.relu(self.se1(h)))).reshape(n, 2 * t2, self.bins)
        enhanced = m * noisy
        h = self.mix(outs, self.emotion_layers)
        score = self.att2(torch.tanh(self.att1(h))).squeeze(2)
        w = torch.softmax(score + (step_mask - 1.0) * 1e4, dim=1).unsqueeze(2)
        mean = (h * w).sum(1)
        sq = (h.square() * w).sum(1)
        std = (sq - mean.square()).clamp(min=1e-5).sqrt()
        logits = self.cls2(torch.relu(self.cls1(torch.cat([mean, std], 1))))
        return enhanced, logits


def weighted_cross_entropy(logits, y, w):
    logp = torch.log_softmax(logits, 1).gather(1, y.unsqueeze(1)).squeeze(1)
    return -(logp * w).sum() / w.sum().item()


def l1_loss(est, clean, frame_mask):
    bins = est.shape[2]
    diff = (est - clean).abs().sum(2)
    return (diff * frame_mask).sum() / max(frame_mask.sum().item() * bins, 1.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=64, help="10 ms frames per example (even)")
    p.add_argument("--bins", type=int, default=201)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.frames < 2 or args.frames % 2 or args.dim % args.heads or args.steps < 1:
        p.error("--frames must be even and >= 2, --dim a multiple of --heads, --steps >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    b, t, f = args.batch, args.frames, args.bins
    noisy = torch.rand(b, t, f) * 3.0  # log1p magnitudes are >= 0
    clean = noisy * torch.rand(b, t, f)
    frame_mask = torch.ones(b, t)
    valid = t // 2  # the last example: first half real, second half padding (zeros, as Batch::new pads)
    frame_mask[-1, valid:] = 0.0
    noisy[-1, valid:] = 0.0
    clean[-1, valid:] = 0.0
    step_mask = torch.zeros(b, t // 2)
    for i in range(b):
        real = int(frame_mask[i].sum().item())
        step_mask[i, : (real + 1) // 2] = 1.0  # steps covering a real frame
    key_bias = torch.where(step_mask > 0, 0.0, -1e4).reshape(b, 1, 1, t // 2)
    y = torch.randint(0, args.classes, (b,))
    w = torch.ones(b)  # per-example class weights
    real = noisy[frame_mask > 0]
    mean, std = real.mean(0), real.std(0, unbiased=False).clamp(min=1e-3)

    model = SeqNet(f, args.dim, args.layers, args.heads, args.hidden, args.classes, mean, std,
                   max(1024, t // 2))
    params = sum(q.numel() for q in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)

    def step():
        opt.zero_grad()
        enhanced, logits = model(noisy, key_bias, step_mask)
        loss = weighted_cross_entropy(logits, y, w) + 1.0 * l1_loss(enhanced, clean, frame_mask)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - start) * 1000)
    mean_ms, median_ms = statistics.fmean(times), statistics.median(times)
    print(json.dumps({"network": "se_ser_seq", "threads": args.threads, "warmup": args.warmup,
                      "steps": args.steps, "batch": b, "frames": t, "bins": f, "dim": args.dim,
                      "layers": args.layers, "heads": args.heads, "hidden": args.hidden,
                      "classes": args.classes, "params": params, "ms_per_step": round(mean_ms, 4),
                      "ms_per_step_median": round(median_ms, 4), "final_loss": round(loss.item(), 6),
                      "torch": torch.__version__}), flush=True)
    print(f"se_ser_seq B={b} T={t} F={f} d={args.dim} layers={args.layers} heads={args.heads} "
          f"hidden={args.hidden} C={args.classes}: {params} parameters, {mean_ms:.3f} ms/step mean, "
          f"{median_ms:.3f} ms/step median over {args.steps} steps ({args.warmup} warm-up), "
          f"{args.threads} thread(s), torch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
