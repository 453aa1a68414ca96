"""The busy-machine report's small LSTM (B = 32, T = 24, D = 8, H = 32, forward + backward), 3 s of
calls: the thread policy against two threads fixed, quiet or beside a process spinning on one core.

    python bench/busy_small.py [--load] [--fixed2]      # prints p50, p90, mean and max per call
"""
import os, sys, time, subprocess, statistics
import numpy as np
spin = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<60: pass"]) if "--load" in sys.argv else None
from unrolled import LSTM
from unrolled.fast import threads, cores
if "--fixed2" in sys.argv: threads.set_threads(2)
m = LSTM(8, 32, seed=0)
x = np.random.default_rng(0).standard_normal((24, 32, 8)).astype(np.float32)
def once():
    y, _ = m.forward(x); m.backward(np.ones_like(y))
for _ in range(20): once()
ts = []
t0 = time.perf_counter()
while time.perf_counter() - t0 < 3:
    t = time.perf_counter(); once(); ts.append(time.perf_counter() - t)
ts = np.array(ts) * 1e3
print(os.environ.get("OPENBLAS_NUM_THREADS"), sys.argv[1:], f"free={cores.free():.2f} now={threads.threads_now()} p50 {np.median(ts):.2f} p90 {np.percentile(ts,90):.2f} mean {ts.mean():.2f} max {ts.max():.1f} ms")
if spin: spin.kill()
