#!/usr/bin/python3
"""PyTorch baseline: samples/s of one SGD/Adam training step (forward + backward + update)
of the 784-256-10 MLP (fashion_mlp) or 784-512-256-10 (fashion_mlp3), same output format as
bench_step: "torch B <batch> <ms/step> <samples/s>". Median of 5 timed repetitions."""
import sys, time, statistics
import torch

def main():
    model_name = sys.argv[1] if len(sys.argv) > 1 else "fashion_mlp"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    batches = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else "1,16,64,256").split(",")]
    opt_name = sys.argv[4] if len(sys.argv) > 4 else "adam"
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
    torch.set_num_threads(threads)
    sizes = [784, 256, 10] if model_name == "fashion_mlp" else [784, 512, 256, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4) if opt_name == "adam" else torch.optim.SGD(net.parameters(), lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    for b in batches:
        x = torch.rand(b, 784)
        y = torch.randint(0, 10, (b,))
        def step():
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(x), y)
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
        t = statistics.median(ts)
        print(f"torch B {b} {1e3 * t:.4f} ms {b / t:.0f} samples/s", flush=True)

if __name__ == "__main__":
    main()
