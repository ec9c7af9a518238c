#!/usr/bin/python3
"""PyTorch's equivalent of `bpc train examples/fashion_mlp.bp --data DIR --epochs N`: the
784-256-10 MLP, batch 64, Adam 1e-3, images scaled to [0, 1], shuffled each epoch, the test
set evaluated after each epoch. bench/run.sh compares the peak resident memory of both runs
(/usr/bin/time -v). usage: torch_train.py DIR [EPOCHS] [THREADS]"""
import gzip, sys, time
import numpy as np
import torch

def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

def load(d, split):
    x = torch.from_numpy(idx(f"{d}/{split}-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(idx(f"{d}/{split}-labels-idx1-ubyte.gz").astype(np.int64))
    return x, y

def main():
    d = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    torch.manual_seed(0)
    xtr, ytr = load(d, "train")
    xte, yte = load(d, "t10k")
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr))
        total = 0.0
        for i in range(0, len(xtr), 64):
            b = perm[i:i + 64]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        with torch.no_grad():
            logits = net(xte)
            acc = (logits.argmax(1) == yte).float().mean().item()
            tl = lossf(logits, yte).item()
        print(f"epoch {epoch}: train loss {total / len(xtr):.4f}, test loss {tl:.4f}, "
              f"test accuracy {100 * acc:.2f}%, {time.perf_counter() - t0:.2f} s", flush=True)

if __name__ == "__main__":
    main()
