"""Times PyTorch's fp32 linear-layer products at the shapes of dev/bench/matmul_bench.c.

forward:  out = inp @ weight.T + bias        (torch.addmm)
backward: dinp = dout @ weight, dweight = dout.T @ inp, dbias = dout.sum(0)
Same columns as matmul_bench (best and median ms, GFLOP/s of the best run, % of the FMA peak).
Usage: python matmul_bench_torch.py [--peak1 X] [--peak2 Y] [--bt N ...] [--quick]
"""
import argparse
import time

import torch


def time_it(fn, budget=0.5):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 25 and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[0], times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peak1", type=float, default=0.0)
    ap.add_argument("--peak2", type=float, default=0.0)
    ap.add_argument("--bt", type=int, action="append")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    bts = args.bt or [256, 1024]
    shapes = [(768, 2304), (768, 768), (768, 3072), (3072, 768), (768, 50304)]
    if args.quick:
        shapes = shapes[:4]
    peak = {1: args.peak1, 2: args.peak2}
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_interop_threads()} interop threads")
    print(f"{'thr':<3} {'BT':<5} {'C':<5} {'OC':<6} {'pass':<4} {'best_ms':>9} {'median_ms':>9} "
          f"{'GFLOP/s':>8} {'%peak':>6}")
    with torch.no_grad():
        for nt in (1, 2):
            torch.set_num_threads(nt)
            for bt in bts:
                for c, oc in shapes:
                    inp = torch.rand(bt, c) - 0.5
                    weight = torch.rand(oc, c) - 0.5
                    bias = torch.rand(oc) - 0.5
                    dout = torch.rand(bt, oc) - 0.5

                    def fwd():
                        return torch.addmm(bias, inp, weight.t())

                    def bwd():
                        return dout @ weight, dout.t() @ inp, dout.sum(0)

                    flops = 2.0 * bt * c * oc
                    for name, fn, mult in (("fwd", fwd, 1.0), ("bwd", bwd, 2.0)):
                        best, median = time_it(fn)
                        gf = mult * flops / best * 1e-9
                        pct = 100.0 * gf / peak[nt] if peak[nt] > 0 else 0.0
                        print(f"{nt:<3} {bt:<5} {c:<5} {oc:<6} {name:<4} {best * 1e3:9.2f} "
                              f"{median * 1e3:9.2f} {gf:8.1f} {pct:5.0f}%", flush=True)


if __name__ == "__main__":
    main()
