"""plot_check.py TEST_PLOT: runs `TEST_PLOT DIR` in a fresh temporary directory, then parses every
SVG it wrote with xml.etree (well-formed XML, an <svg> root with a size, finite coordinates,
labels escaped and round-tripped), and removes the directory whatever happens."""
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def check(path, problems):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        problems.append(f"{path}: not well-formed: {e}")
        return None
    if root.tag != SVG + "svg":
        problems.append(f"{path}: root is {root.tag}")
    for attr in ("width", "height"):
        v = float(root.get(attr, "nan"))
        if not (math.isfinite(v) and 100 < v < 5000):
            problems.append(f"{path}: {attr}={root.get(attr)}")
    for el in root.iter():
        for name in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"):
            v = el.get(name)
            if v is not None and not v.endswith("%") and not math.isfinite(float(v)):
                problems.append(f"{path}: {el.tag} {name}={v}")
    return root


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def main():
    exe = sys.argv[1]
    problems = []
    with tempfile.TemporaryDirectory(prefix="mtlrt-plot-") as d:
        out = os.path.join(d, "out")
        r = subprocess.run([exe, out], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            problems.append(f"{exe} exited with {r.returncode}")
        names = sorted(os.listdir(out)) if os.path.isdir(out) else []
        if len(names) < 10:
            problems.append(f"only {len(names)} files written: {names}")
        roots = {}
        for name in names:
            if not name.endswith(".svg"):
                problems.append(f"unexpected file {name}")
                continue
            roots[name] = check(os.path.join(out, name), problems)
        special = roots.get("special.svg")
        if special is not None:
            t = texts(special)
            if "a<b & c>d \"quoted\" 'single'" not in t:
                problems.append("special.svg: the escaped label does not round-trip")
            if not any("\ufffd" in s for s in t):
                problems.append("special.svg: invalid UTF-8 not replaced")
        typical = roots.get("typical.svg")
        if typical is not None:
            t = texts(typical)
            for want in ("seg loss", "val depth loss", "val cls accuracy", "epoch", "20"):
                if want not in t:
                    problems.append(f"typical.svg: no text {want!r}")
    for p in problems:
        print("plot_check:", p, file=sys.stderr)
    print("plot_check:", "FAILED" if problems else f"{len(roots)} SVG files well-formed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
