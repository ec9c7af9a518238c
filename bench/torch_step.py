#!/usr/bin/python3
"""PyTorch baseline: samples/s of one SGD/Adam training step (forward + backward + update)
of the 784-256-10 MLP (fashion_mlp), 784-512-256-10 (fashion_mlp3), the CNN of
examples/fashion_cnn.bp or the GPT of examples/tiny_gpt.bp, same output format as
bench_step: "torch B <batch> <ms/step> <samples/s>".
Median of 5 timed repetitions, subnormals flushed to zero. Prints the BLAS library the process mapped on stderr.
With IMAGES_DIR (the MLPs), each step takes the next batch of the first 4096 Fashion-MNIST
training images (pixels / 255) and their labels, as bench_step --images does.
usage: torch_step.py MODEL THREADS BATCHES OPT [SECONDS [IMAGES_DIR]]"""
import gzip, sys, time, statistics
import torch

RING = 4096  # bench_step.c's IMAGES_RING

def read_images(d):
    with gzip.open(f"{d}/train-images-idx3-ubyte.gz") as f:
        px = f.read()[16:16 + RING * 784]
    with gzip.open(f"{d}/train-labels-idx1-ubyte.gz") as f:
        lb = f.read()[8:8 + RING]
    x = torch.frombuffer(bytearray(px), dtype=torch.uint8).float().div(255).reshape(RING, 784)
    return x, torch.frombuffer(bytearray(lb), dtype=torch.uint8).long()

def cnn():
    # examples/fashion_cnn.bp: two conv(5x5, padding 2, per-channel bias) + relu + maxpool(2)
    # blocks, then 3136-128-10 with relu
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))

class TinyGPT(torch.nn.Module):
    """examples/tiny_gpt.bp: byte and position embeddings, a pre-norm block of 4-head causal
    self-attention (per-head projections [4, 128, 32], summed output projections) and a GELU
    (erf) MLP with residuals, a final layernorm, a 256-way head."""
    def __init__(self):
        super().__init__()
        nn, P = torch.nn, lambda *s, std=0.02: torch.nn.Parameter(torch.randn(*s) * std)
        self.wte, self.wpe = P(256, 128), P(64, 128)
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(128), nn.LayerNorm(128), nn.LayerNorm(128)
        self.q, self.k, self.v, self.o = P(4, 128, 32), P(4, 128, 32), P(4, 128, 32), P(4, 32, 128, std=0.01)
        self.f1, self.p1 = nn.Linear(128, 512), nn.Linear(512, 128)
        self.head = P(128, 256)
        self.register_buffer("future", torch.triu(torch.ones(64, 64, dtype=torch.bool), 1))

    def forward(self, x):
        h0 = self.wte[x] + self.wpe
        a = self.ln1(h0).unsqueeze(1)
        s = (a @ self.q) @ (a @ self.k).transpose(-1, -2) * 0.17677669529663687
        att = torch.softmax(s.masked_fill(self.future, float("-inf")), dim=-1)
        h1 = h0 + ((att @ (a @ self.v)) @ self.o).sum(1)
        h2 = h1 + self.p1(torch.nn.functional.gelu(self.f1(self.ln2(h1))))
        return (self.lnf(h2) @ self.head).reshape(-1, 256)

def blas_libraries():
    with open("/proc/self/maps") as f:
        return sorted({l.split()[-1] for l in f if "blas" in l.lower() and "/" in l})

def main():
    model_name = sys.argv[1] if len(sys.argv) > 1 else "fashion_mlp"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,16,64,256").split(",")]
    opt_name = sys.argv[4] if len(sys.argv) > 4 else "adam"
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
    images = read_images(sys.argv[6]) if len(sys.argv) > 6 else None
    torch.set_num_threads(threads)
    # Adam's moments decay into subnormals where gradients are zero (ReLU, small batches),
    # ~100x slower per operation on x86: flush them, as bpc's runtime does
    torch.set_flush_denormal(True)
    if model_name == "fashion_cnn":
        net, in_shape = cnn(), (1, 28, 28)
    elif model_name == "tiny_gpt":
        net, in_shape = TinyGPT(), None
    else:
        sizes = [784, 256, 10] if model_name == "fashion_mlp" else [784, 512, 256, 10]
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i + 2 < len(sizes):
                layers.append(torch.nn.ReLU())
        net, in_shape = torch.nn.Sequential(*layers), (784,)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4) if opt_name == "adam" else torch.optim.SGD(net.parameters(), lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    for b in batches:
        if in_shape is None:  # bytes in, the next bytes as targets
            x = torch.randint(0, 256, (b, 64))
            y = torch.randint(0, 256, (b * 64,))
        else:
            x = torch.rand(b, *in_shape)
            y = torch.randint(0, 10, (b,))
        at = [0]
        def step():
            xb, yb = x, y
            if images is not None:  # the next batch of the ring
                if at[0] + b > RING:
                    at[0] = 0
                xb, yb = images[0][at[0]:at[0] + b], images[1][at[0]:at[0] + b]
                at[0] += b
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xb), yb)
            loss.backward()
            opt.step()
        steps = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            if time.perf_counter() - t0 > seconds / 25 or steps > 1 << 20:
                break
            steps *= 2
        steps *= 5
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            ts.append((time.perf_counter() - t0) / steps)
        if b == batches[0]:
            print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: "
                  + " ".join(blas_libraries()), file=sys.stderr, flush=True)
        t = statistics.median(ts)
        print(f"torch B {b} {1e3 * t:.4f} ms {b / t:.0f} samples/s", flush=True)

if __name__ == "__main__":
    main()
