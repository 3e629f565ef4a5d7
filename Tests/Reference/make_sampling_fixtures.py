#!/usr/bin/env python3
"""Makes Tests/DatasetsTests/Fixtures/sampling.json: the calibration windows a seed picks.

Independent reference for Datasets' SplitMix64 and CalibrationData.sample, written from the
sources: SplitMix64 as Vigna's splitmix64.c (https://prng.di.unimi.it/splitmix64.c); bounded
integers by Lemire's multiply-and-reject method (ACM TOMACS 2019, Algorithm 5); a partial
Fisher-Yates shuffle of the window indices, the first `samples` kept and sorted.
Run from the repo root: `.venv/bin/python Tests/Reference/make_sampling_fixtures.py`.
"""
import json
import os

MASK = (1 << 64) - 1
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "DatasetsTests", "Fixtures", "sampling.json")


class SplitMix64:
    def __init__(self, seed):
        self.x = seed & MASK

    def next(self):
        self.x = (self.x + 0x9E3779B97F4A7C15) & MASK
        z = self.x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, s):
        m = self.next() * s
        low = m & MASK
        if low < s:
            t = (-s % (1 << 64)) % s
            while low < t:
                m = self.next() * s
                low = m & MASK
        return m >> 64


def sample(windows, samples, seed):
    order = list(range(windows))
    g = SplitMix64(seed)
    for i in range(samples):
        j = i + g.below(windows - i)
        order[i], order[j] = order[j], order[i]
    return sorted(order[:samples])


def main():
    streams = []
    for seed in [0, 1234567]:
        g = SplitMix64(seed)
        streams.append({"seed": seed, "outputs": [str(g.next()) for _ in range(8)]})
    cases = []
    for seed in [0, 1, 42, 2**64 - 1]:
        for windows, samples in [(1, 1), (3, 1), (10, 10), (100, 5), (1000, 17), (4099, 128)]:
            cases.append({"seed": str(seed), "windows": windows, "samples": samples, "picked": sample(windows, samples, seed)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"streams": streams, "cases": cases}, f, separators=(",", ":"))
    print(streams[0])


if __name__ == "__main__":
    main()
