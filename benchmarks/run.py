"""Run every benchmarks/bench_*.py and print their figures (`make bench`).

Each benchmark module has ``main()`` that prints its figures and returns a
dict; the combined results are written to benchmarks/results/latest.json.
A benchmark that is also a check (bench_soak.py) puts what it found wrong in
its dict's ``failures``: then this exits with status 1, after every benchmark ran.
Usage: python benchmarks/run.py [name ...]   (e.g. ``index`` for bench_index.py)
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or None
    results = {}
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem[len("bench_"):]
        if names and name not in names:
            continue
        print(f"== {path.name}", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        t = time.perf_counter()
        results[name] = mod.main()
        print(f"   ({time.perf_counter() - t:.1f} s)\n", flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    failed = {name: r["failures"] for name, r in results.items() if isinstance(r, dict) and r.get("failures")}
    for name, why in failed.items():
        print(f"FAILED {name}: {'; '.join(why)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
