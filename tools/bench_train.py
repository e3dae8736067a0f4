"""The PyTorch side of the training-speed comparison: mean wall-clock milliseconds per optimiser step
(zero_grad + forward + loss + backward + AdamW step) on CPU, after 20 warm-up steps, for the two networks
sertool trains, on one fixed batch of random float32 data. Prints one JSON line per network.

  mlp:  Linear(88->256) ReLU Linear(256->4), batch 512, class-weighted cross-entropy (weights 1.0).
  edrl: d=128, C=4, h=64, z=16, batch 64. C class encoders + 1 shared encoder, each its own
        nn.Sequential(Linear(d,h), ReLU, Linear(h,z)); head Linear(C*z, C) on the concatenated class
        codes; decoder Linear(2z,h) ReLU Linear(h,d) on [Z_y, Z_s].
        loss = CE + 1.0*MSE(x_hat, x) + 0.1*diff + 0.1*sim.
  mmd:  Linear(128->64) ReLU Linear(64->4) on 64 source + 64 target rows; CE on the source rows +
        multi-bandwidth RBF MMD^2 between the hidden activations (five bandwidths 2^-2..2^2 x the mean
        squared distance between distinct rows, no gradient through them).
  dann: the same MLP; CE on the source + CE of a discriminator Linear(64->64) ReLU Linear(64->2) on the
        hidden activations behind gradient reversal (coefficient 0.5).
  All use AdamW(lr=1e-3, weight_decay=0.01).

    tools/.venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu  # or plain PyPI
    tools/.venv/bin/python tools/bench_train.py [--threads 1] [--steps 300]
"""

import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F

WARMUP = 20


class Edrl(nn.Module):
    def __init__(self, d=128, c=4, h=64, z=16):
        super().__init__()
        self.c = c
        enc = lambda: nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, z))
        self.class_enc = nn.ModuleList([enc() for _ in range(c)])
        self.shared_enc = enc()
        self.head = nn.Linear(c * z, c)
        self.dec = nn.Sequential(nn.Linear(2 * z, h), nn.ReLU(), nn.Linear(h, d))

    def loss(self, x, y):
        n = x.shape[0]
        codes = [e(x) for e in self.class_enc]  # C x (n, z)
        zs = self.shared_enc(x)  # (n, z)
        logits = self.head(torch.cat(codes, dim=1))
        onehot = F.one_hot(y, self.c).to(x.dtype)  # (n, C)
        zy = (onehot.unsqueeze(2) * torch.stack(codes, dim=1)).sum(1)  # code of the true class
        x_hat = self.dec(torch.cat([zy, zs], dim=1))
        a = zs - zs.mean(0)
        b = zy - zy.mean(0)
        diff = ((a.T @ b / n) ** 2).sum()
        counts = onehot.sum(0)
        class_means = (onehot.T @ zs) / counts.clamp(min=1).unsqueeze(1)  # (C, z)
        sim = ((class_means - zs.mean(0)) ** 2).sum(1)[counts > 0].mean()
        return F.cross_entropy(logits, y) + F.mse_loss(x_hat, x) + 0.1 * diff + 0.1 * sim


def mmd(x, y):
    z = torch.cat([x, y])
    d = torch.cdist(z, z) ** 2
    n = z.shape[0]
    base = d.detach().sum() / (n * n - n)
    k = sum(torch.exp(-d / (base * 2.0 ** p)) for p in range(-2, 3))
    m = x.shape[0]
    return k[:m, :m].mean() + k[m:, m:].mean() - 2 * k[:m, m:].mean()


class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.coeff * g, None


class Aligned(nn.Module):
    def __init__(self, adversarial):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(128, 64), nn.ReLU())
        self.out = nn.Linear(64, 4)
        self.disc = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)) if adversarial else None

    def loss(self, xs, ys, xt):
        h = self.hidden(torch.cat([xs, xt]))
        ce = F.cross_entropy(self.out(h[:64]), ys)
        if self.disc is None:
            return ce + mmd(h[:64], h[64:])
        domain = torch.cat([torch.zeros(64, dtype=torch.long), torch.ones(64, dtype=torch.long)])
        return ce + F.cross_entropy(self.disc(Reverse.apply(h, 0.5)), domain)


def bench(model, loss_fn, steps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step():
        opt.zero_grad()
        loss_fn().backward()
        opt.step()

    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) * 1000 / steps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(512, 88)
    y = torch.randint(0, 4, (512,))
    mlp = nn.Sequential(nn.Linear(88, 256), nn.ReLU(), nn.Linear(256, 4))
    w = torch.ones(4)
    runs = [("mlp", mlp, lambda: F.cross_entropy(mlp(x), y, weight=w))]

    xe = torch.randn(64, 128)
    ye = torch.randint(0, 4, (64,))
    edrl = Edrl()
    runs.append(("edrl", edrl, lambda: edrl.loss(xe, ye)))

    xs, xt = torch.randn(64, 128), torch.randn(64, 128)
    ys = torch.randint(0, 4, (64,))
    for name in ["mmd", "dann"]:
        m = Aligned(adversarial=name == "dann")
        runs.append((name, m, lambda m=m: m.loss(xs, ys, xt)))

    for name, model, loss_fn in runs:
        ms = bench(model, loss_fn, args.steps)
        print(json.dumps({"network": name, "threads": args.threads, "steps": args.steps,
                          "ms_per_step": round(ms, 4), "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
