"""Fidelity on a real fluorescence image: care_bridge vs. the csbdeep package, the same budget, held-out region.

    python benchmarks/fidelity.py [--levels 2,5,20] [--seeds 2] [--seed-levels 5|all] [--epochs 12] [--steps 20]
    python benchmarks/fidelity.py --quick        # smoke run (< 2 min): one level, tiny training
    python benchmarks/fidelity.py --image my_gt.tif [--mask my_labels.tif]
    python benchmarks/fidelity.py --patches own  # each program makes its own patches (see "Own patches")

**Data.** By default the ground truth is ``img2d.tif`` (512 x 512, uint16 holding 8-bit values) with its nucleus
labels ``mask2d.tif`` as shipped inside the ``stardist`` wheel (``stardist/data/images/``, read with tifffile;
nothing of stardist is imported). StarDist's docstring (``stardist.data.test_image_nuclei_2d``) gives the source:
a fluorescence image of stained nuclei from the training set of the 2018 Kaggle Data Science Bowl (Caicedo et al.,
"Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl", Nature Methods 16:1247, 2019),
i.e. image set BBBC038v1 of the Broad Bioimage Benchmark Collection, released by the Broad Institute under CC0
1.0 (public domain); the stardist package itself is BSD-3-Clause (Schmidt & Weigert). stardist's other shipped
image, ``img3d.tif``, is synthetic and is not used. stardist depends on numba and is not a dependency here: the
files are found with ``importlib.util.find_spec("stardist")`` if it is installed (``pip install stardist
--no-deps`` is enough), or given with ``--image``/``--mask`` (e.g. from ``pip download stardist --no-deps`` and
``unzip``). scikit-image's fluorescence samples (``human_mitosis``, ``cells3d``) are not in its wheel (pooch
downloads them), so they are not a default.

**Noise model** (a camera-level model of a fluorescence image at low light: Poisson photon shot noise, Gaussian
read noise, gain and offset; Janesick, *Photon Transfer*, SPIE Press 2007; the CARE paper's semi-synthetic data
likewise add Poisson and Gaussian noise to high-SNR images, Weigert et al., Nature Methods 15:1090, 2018,
Methods): the ground truth ``g`` is scaled to an expected photo-electron count ``e = P g / p99.9(g)`` (its 99.9th
percentile is ``P`` photons; ``--levels`` lists the ``P``), then ``raw = round(offset + gain (Poisson(e) +
N(0, read_noise^2)))`` clipped to [0, 65535] (defaults: read noise 1.5 e-, gain 2 ADU/e-, offset 100 ADU; one
noise realization per level, seed 0).

**Split.** The image's left 3/4 (columns < 384) is the training region, its right 1/4 the test region; training
patches lie wholly inside the training region, so no pixel of the test region (not even through a patch's
receptive field) is ever seen in training, and the networks restore the test region as an image of its own
(their input normalization: that image's percentiles). The classical baselines' parameters are tuned on the
training region (lowest NRMSE against its ground truth), then applied to the test region.

**Same budget, same data** (``--patches shared``, the default). One set of normalized patches per level is made once
with care_bridge's datagen (:func:`care_bridge.data.patches.create_patches`: CSBDeep's foreground filter,
90°-rotations/flips, whole-image percentiles drawn per patch from [1, 3] / [99.5, 99.9] as CSBDeep's
``norm_percentiles``), split 90/10 into training and validation patches at random
(:func:`~care_bridge.data.patches.load_patches`, one source), and the *same arrays* go to both programs, so any
difference is training and network. Both train CARE's default 2D network (depth 2, 32 first filters, kernel 5,
residual, linear output, MAE, Adam 4e-4, batch 16, learning rate halved after 10 epochs without improvement, best
validation checkpoint) for the same epochs x steps, each in its own process limited to ``--threads`` (default 1)
TensorFlow threads. csbdeep: ``Config``/``CARE.train`` (which reloads its best checkpoint), ``CARE.predict(x,
"YX")`` with its default normalizer (percentiles 2/99.8) and de-normalization; care_bridge:
``care_bridge.train.train`` and ``load_restorer(model_folder).restore(x, "YX")`` (best weights, percentiles 2/99.8
from the model's config, de-normalized the same way). ``--seeds N`` (default 2) trains each program N times (seeds
0..N-1, or from ``--first-seed``: initialization and batch order) at the ``--seed-levels`` (default 5; ``all``),
once (seed 0) at the other levels, so the seed-to-seed spread is known before a difference is claimed. The default
budget (12 epochs x 20 steps, 1200 patches of 64 x 64) is what one shared CPU core trains in 3-4.5 minutes per
network (the default run took 31 min); it is short of CARE's defaults (100 x 400), so the learning-rate schedule
(patience 10) hardly acts and both networks are far from converged.

``--programs`` may add ``care_bridge_bf16``: care_bridge trained with ``precision="bf16"`` (``care-bridge train
--precision bf16``: mixed precision, the same network and schedule; needs a CPU with bf16 instructions), restored
by the same float32 path, to measure whether the faster arithmetic costs fidelity.

**Own patches** (``--patches own``): the data side too. Each program makes its own training data from the same
raw training region (the noisy left 3/4 and its ground truth) with its own datagen at its defaults, the same
number (``--n-patches``, N) and size (``--patch``, p) of patches, 10% of them for validation; training, budget and
prediction are as above. The region is ONE image in both programs, so care_bridge's whole-source validation
hold-out cannot act (with one source it falls back to random patches). Each training case makes its patches in
its own process seeded by the case's seed, so repeated runs reproduce and the seed-to-seed spread includes the
draw of the patches (care_bridge's patches of seed 0 are the shared set); ``care_bridge_bf16`` makes care_bridge's.

- csbdeep (0.8.2; ``csbdeep/data/generate.py``, ``csbdeep/io/__init__.py``): ``RawData.from_arrays(x[None],
  y[None], axes="YX")``, ``create_patches(raw_data, (p, p), n_patches_per_image=N)`` at its defaults:
  ``transforms=None`` (no flips or rotations); ``patch_filter=no_background_patches(threshold=0.4,
  percentile=99.9)`` (patch centres where the maximum filter, size p/2, of the ground truth exceeds 0.4 x its
  99.9th percentile; N of them drawn without replacement when there are enough); ``normalization=
  norm_percentiles(percentiles=sample_percentiles(pmin=(1, 3), pmax=(99.5, 99.9)), relu_last=False)`` (per patch
  a low level drawn from U[1, 3] and a high one from U[99.5, 99.9], the input patch scaled by those percentiles
  of the whole input region and the target patch by those of the whole ground truth, not clipped);
  ``shuffle=True``. Every draw comes from numpy's global generator (``np.random.seed(seed)`` first). Then
  ``load_training_data(validation_split=0.1)``: the last round(N/10) of the shuffled patches are validation, the
  arrays moved from create_patches' ``"SCYX"`` to channels-last ``"SYXC"``, the layout ``CARE.train`` takes.
- care_bridge: :func:`care_bridge.data.patches.create_patches` at its defaults (``seed=seed``): the same
  foreground filter (threshold 0.4, percentile 99.9, filter p/2; centres drawn uniformly, those on background
  rejected, at most 20 N tries), each patch then turned by a random multiple of 90° and flipped at random (each
  of the 8 orientations with probability 1/8), the same per-patch percentile draw and whole-image scaling;
  :func:`~care_bridge.data.patches.load_patches` (``validation_fraction=0.1, seed=seed``; one source: round(N/10)
  random patches). All draws from ``default_rng(seed)``.

So the two data sides differ by care_bridge's rotations/flips and by their random draws.

**What still differs** between the two trainers on the same arrays (csbdeep 0.8.2 read side by side with
care_bridge): the batch order (both visit all patches once per pass in a random permutation, batches spanning
passes; csbdeep draws the permutations from numpy's global generator, care_bridge from ``default_rng([seed,
pass])``), csbdeep's TerminateOnNaN (care_bridge refuses non-finite data before training), and things without
effect on the weights (validation batch size, extra metrics, TensorBoard). Architecture, initializers (the same
seed gives bit-identical initial weights), loss, optimizer, checkpoint choice and prediction are the same (the same
weights predicted by both paths agree to 1.5e-5 on a range of 26). ``--csbdeep-order care_bridge_order`` makes
csbdeep train on care_bridge's batch order: with the same seed the two trainings are then the same computation
(losses and weights bit-identical after 6 steps, checked), so it measures how much of a difference is the draw of
the batches.

**Metrics** (:mod:`care_bridge.evaluate.metrics`, the CARE paper's Methods "Evaluation"): the ground truth
normalized by its 0.1/99.9 percentiles, each result fitted to it by the least-squares affine map (CSBDeep's
``normalize_minmse``), then NRMSE, PSNR and SSIM (scikit-image, data range 1), on the test region. Nucleus
brightness slope: over the nuclei (labels of ``--mask``) with at least 30 pixels in the test region, the
least-squares slope of the restored nucleus mean intensity against the true one (both in the normalized units
above); 1 is faithful, < 1 compresses bright vs. dim nuclei. The affine fit is to the whole region, so a result
that is still noisy is shrunk towards its mean by the fit (regression dilution): the slope of the noisy input
(and of weak restorations) is low for that reason, not because its nuclei are compressed; compare it between
results of similar error.

Prints a table (per level and method: mean ± sd over seeds) and writes ``benchmarks/results/fidelity.json``
(``fidelity_quick.json`` with ``--quick``) with the variant (``patches``), every seed's numbers (with ``--patches
own`` also the training and validation patches that program made: ``n_train``, ``n_validation``), the timings and
the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
TRAIN_FRACTION = 0.75
NOISE = {"read_noise": 1.5, "gain": 2.0, "offset": 100.0}
MIN_NUCLEUS_PIXELS = 30
GET_DATA = ("pip install stardist --no-deps (only its TIFFs are read), or pip download stardist --no-deps && "
            "unzip the wheel and pass --image .../stardist/data/images/img2d.tif --mask .../mask2d.tif")


# ---------------------------------------------------------------------------------------------- data and noise


def stardist_images() -> tuple[Path, Path] | None:
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
    img, mask = d / "img2d.tif", d / "mask2d.tif"
    return (img, mask) if img.is_file() else None


def degrade(gt, photons: float, rng, *, read_noise: float, gain: float, offset: float):
    """Camera image of ``gt`` at ``photons`` (its 99.9th percentile) photo-electrons: shot + read noise, gain,
    offset, 16-bit rounding (see the module docstring)."""
    import numpy as np

    g = np.asarray(gt, np.float64)
    e = g * (photons / np.percentile(g, 99.9))
    electrons = rng.poisson(e) + rng.normal(0.0, read_noise, g.shape)
    return np.clip(np.round(offset + gain * electrons), 0, 65535).astype(np.float32)


def split_columns(width: int, step: int = 4) -> int:
    """First column of the test region (a multiple of ``step`` so both parts keep network-divisible widths)."""
    return int(round(width * TRAIN_FRACTION / step)) * step


def make_level(work: Path, gt, photons: float) -> dict:
    """The noisy image of one level, saved as its training region (``train_low.npy`` and its ground truth
    ``train_gt.npy``) and its test region (``test_low.npy``)."""
    import numpy as np

    work.mkdir(parents=True, exist_ok=True)
    low = degrade(gt, photons, np.random.default_rng(0), **NOISE)
    c = split_columns(gt.shape[1])
    np.save(work / "train_low.npy", low[:, :c])
    np.save(work / "train_gt.npy", gt[:, :c].astype(np.float32))
    np.save(work / "test_low.npy", low[:, c:])
    return {"photons_p99_9": photons, "input_mean_photons": float(gt.mean() * photons / np.percentile(gt, 99.9))}


def _region(region: str):
    """The training region of a level (:func:`make_level`): noisy input and ground truth, ``"YX"``."""
    import numpy as np

    return np.load(Path(region) / "train_low.npy"), np.load(Path(region) / "train_gt.npy")


def care_bridge_patches(data: str, region: str, n_patches: int, patch: int, seed: int) -> dict:
    """care_bridge's datagen at its defaults on the training region (one source), seeded by ``seed``: patches
    (:func:`care_bridge.data.patches.create_patches`) and their validation split
    (:func:`~care_bridge.data.patches.load_patches`; one source, so random patches), saved as ``data`` (X, Y, Xv,
    Yv; ``"SYXC"``)."""
    import numpy as np

    from care_bridge.data.patches import create_patches, load_patches

    x, y = _region(region)
    file = Path(data).with_name("patches.npz")
    create_patches(iter([("train_region", x, y)]), "YX", (patch, patch), n_patches, file, progress=False, seed=seed)
    X, Y, Xv, Yv, _, meta = load_patches(file, validation_fraction=0.1, seed=seed)
    np.savez(data, X=X, Y=Y, Xv=Xv, Yv=Yv)
    return {"n_train": len(X), "n_validation": len(Xv), "validation_split": meta["validation_split"]["by"]}


def csbdeep_patches(data: str, region: str, n_patches: int, patch: int, seed: int) -> dict:
    """csbdeep's datagen at its defaults on the training region (one image), seeded by ``seed``:
    ``RawData.from_arrays`` + ``create_patches`` (foreground filter, sampled percentiles, no transforms, shuffled)
    and ``load_training_data(validation_split=0.1)`` (the last 10% of the shuffled patches), saved as ``data``
    (X, Y, Xv, Yv; ``"SYXC"``, the layout ``CARE.train`` takes)."""
    import numpy as np
    from csbdeep.data import RawData, create_patches
    from csbdeep.io import load_training_data

    x, y = _region(region)
    file = Path(data).with_name("csbdeep_patches.npz")
    np.random.seed(seed)  # csbdeep draws positions, percentile levels and the shuffle from numpy's global generator
    create_patches(RawData.from_arrays(x[None], y[None], axes="YX"), (patch, patch), n_patches, save_file=file,
                   verbose=False)
    (X, Y), (Xv, Yv), axes = load_training_data(file, validation_split=0.1)
    assert axes == "SYXC", axes
    np.savez(data, X=X, Y=Y, Xv=Xv, Yv=Yv)
    return {"n_train": len(X), "n_validation": len(Xv), "validation_split": "last 10% of the shuffled patches"}


OWN_PATCHES = {"csbdeep": csbdeep_patches, "care_bridge": care_bridge_patches, "care_bridge_bf16": care_bridge_patches}


# ----------------------------------------------------------------------------------------- the two programs


def _limit_threads(threads: int) -> None:
    for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[k] = str(threads)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _arrays(path: str):
    import numpy as np

    with np.load(path) as d:
        return d["X"], d["Y"], d["Xv"], d["Yv"]


def run_csbdeep(data: str, test: str, out: str, epochs: int, steps: int, batch: int, seed: int, threads: int,
                variant: str = "") -> dict:
    _limit_threads(threads)
    import keras
    import numpy as np
    from csbdeep.models import CARE, Config

    X, Y, Xv, Yv = _arrays(data)
    keras.utils.set_random_seed(seed)  # python, numpy (csbdeep's batch order) and TensorFlow (initialization)
    if variant == "care_bridge_order":
        _feed_care_bridge_batches(len(X), batch, seed)
    cfg = Config("YX", n_channel_in=1, n_channel_out=1, train_batch_size=batch, train_epochs=epochs,
                 train_steps_per_epoch=steps, train_tensorboard=False)
    model = CARE(cfg, "csbdeep", basedir=out)
    t0 = time.perf_counter()
    hist = model.train(X, Y, validation_data=(Xv, Yv))
    t_train = time.perf_counter() - t0
    pred = model.predict(np.load(test), "YX")
    np.save(Path(out) / "pred.npy", pred.astype(np.float32))
    h = hist.history
    return {"train_s": t_train, "best_val_loss": float(min(h["val_loss"])), "final_loss": float(h["loss"][-1]),
            "best_epoch": int(np.argmin(h["val_loss"])) + 1, "final_lr": float(h.get("learning_rate", [np.nan])[-1]),
            "pred": str(Path(out) / "pred.npy")}


def _feed_care_bridge_batches(n: int, batch: int, seed: int) -> None:
    """Ablation: csbdeep's ``CARE.train`` takes its batches in the order ``care_bridge.train`` draws them for
    ``seed`` (:class:`care_bridge.train.batches.BatchStream`: per-pass permutations from ``default_rng([seed,
    pass])``, rolling over pass boundaries) instead of its own (numpy's global permutations, also rolling). With
    the same seed both programs also start from identical weights (the same Keras initializers drawn in the same
    layer order), so what is left is the trainers' code and floating-point nondeterminism."""
    from csbdeep.internals import train as csb_train

    from care_bridge.train.batches import BatchStream

    stream = BatchStream(np.zeros((n, 1)), np.zeros((n, 1)), batch_size=min(batch, n), seed=seed)
    # a method, not a subclass: DataWrapper.__init__ calls super(DataWrapper, self) by its module-level name
    csb_train.DataWrapper.batch = lambda self, i: stream.indices(i)


def run_care_bridge(data: str, test: str, out: str, epochs: int, steps: int, batch: int, seed: int, threads: int,
                    variant: str = "") -> dict:
    """care_bridge's trainer; ``variant="bf16"``: ``precision="bf16"`` (``care_bridge_bf16``)."""
    _limit_threads(threads)
    import csv

    import numpy as np

    from care_bridge.frontend.jobs import load_restorer
    from care_bridge.models.config import CareConfig
    from care_bridge.train import train

    X, Y, Xv, Yv = _arrays(data)
    cfg = CareConfig(name="care_bridge", batch_size=batch, epochs=epochs, steps_per_epoch=steps, seed=seed,
                     precision="bf16" if variant == "bf16" else "fp32")
    t0 = time.perf_counter()
    train(cfg, X, Y, Xv, Yv, Path(out) / "care_bridge", progress=False)
    t_train = time.perf_counter() - t0
    pred = load_restorer(Path(out) / "care_bridge").restore(np.load(test), "YX").image
    np.save(Path(out) / "pred.npy", pred.astype(np.float32))
    with open(Path(out) / "care_bridge" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val_loss"]) for r in rows]
    lr = rows[-1].get("learning_rate", "nan")
    return {"train_s": t_train, "best_val_loss": min(val), "final_loss": float(rows[-1]["loss"]),
            "best_epoch": int(np.argmin(val)) + 1, "final_lr": float(lr), "pred": str(Path(out) / "pred.npy")}


PROGRAMS = {"csbdeep": run_csbdeep, "care_bridge": run_care_bridge, "care_bridge_bf16": run_care_bridge}


def run_program(program: str, own_patches: dict | None = None, **case) -> dict:
    """One training case, in this process; with ``own_patches`` (``--patches own``) the program first makes its
    training data into ``case["data"]`` with its own datagen, seeded by the case's seed."""
    made = {}
    if own_patches is not None:
        _limit_threads(case["threads"])  # before csbdeep's datagen imports TensorFlow
        made = OWN_PATCHES[program](case["data"], seed=case["seed"], **own_patches)
    return made | PROGRAMS[program](**case)


def run_case(case: dict) -> dict:
    p = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{case['program']} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ baselines, metrics


def tune(fn, params, x_train, gt_train):
    """The parameter of ``params`` whose ``fn(x_train, p)`` has the lowest NRMSE against ``gt_train``."""
    from care_bridge.evaluate.metrics import nrmse

    errs = [nrmse(fn(x_train, p), gt_train) for p in params]
    i = min(range(len(params)), key=errs.__getitem__)
    return params[i], errs


def gaussian(x, sigma):
    from scipy import ndimage

    return ndimage.gaussian_filter(x.astype(np.float32), sigma)


def nl_means(x, h_factor):
    """scikit-image non-local means (Buades et al. 2005) on the image scaled to [0, 1] by its 2/99.8 percentiles,
    ``h = h_factor x`` the estimated noise sigma (patch 5, distance 6, fast mode)."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    lo, hi = np.percentile(x, [2, 99.8])
    xn = (x.astype(np.float64) - lo) / (hi - lo)
    s = float(estimate_sigma(xn))
    return denoise_nl_means(xn, h=h_factor * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True)


def nucleus_slope(pred, gt, labels) -> float:
    """Least-squares slope of restored vs. true nucleus mean brightness (CARE-normalized units)."""
    from care_bridge.evaluate.metrics import _prepare

    p, g = _prepare(pred, gt)
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    ids = ids[counts >= MIN_NUCLEUS_PIXELS]
    if len(ids) < 3:
        return float("nan")
    t = np.array([g[labels == i].mean() for i in ids])
    r = np.array([p[labels == i].mean() for i in ids])
    return float(np.polyfit(t, r, 1)[0])


def evaluate(pred, gt, labels) -> dict:
    from care_bridge.evaluate.metrics import scores

    s = scores(pred, gt)
    out = {"nrmse": s.nrmse, "psnr": s.psnr, "ssim": s.ssim}
    if labels is not None:
        out["slope"] = nucleus_slope(pred, gt, labels)
    return out


# ------------------------------------------------------------------------------------------------------ main


def machine(threads: int) -> dict:
    cpu = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "logical_cpus": os.cpu_count(), "tensorflow_threads": threads,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average_start": os.getloadavg()[0]}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in ("care_bridge", "csbdeep", "tensorflow", "tensorflow-cpu", "keras", "scikit-image", "numpy"):
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            pass
    return out


def fmt(vals: list[float], digits: int) -> str:
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    m = float(np.mean(vals))
    if len(vals) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f}±{float(np.std(vals, ddof=1)):.{digits}f}"


METRICS = (("nrmse", 4, "NRMSE"), ("psnr", 2, "PSNR dB"), ("ssim", 4, "SSIM"), ("slope", 3, "nuc. slope"))


def print_table(results: list[dict]) -> None:
    head = f"{'P':>4} {'method':<22}" + "".join(f"{t:>17}" for _, _, t in METRICS) + f"{'n':>3}"
    print(head)
    print("-" * len(head))
    for lev in results:
        for name, runs in lev["methods"].items():
            line = f"{lev['photons']:>4g} {name:<22}"
            for key, d, _ in METRICS:
                line += f"{fmt([r.get(key, float('nan')) for r in runs], d):>17}"
            print(line + f"{len(runs):>3}")
        print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", help="ground-truth image (2D TIFF); default: stardist's img2d.tif")
    ap.add_argument("--mask", help="nucleus labels of --image (for the brightness slope); default: stardist's")
    ap.add_argument("--levels", default="2,5,20", help="photons at the ground truth's 99.9th percentile")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds per program (0..N-1)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds are FIRST..FIRST+N-1 (to add seeds to a run)")
    ap.add_argument("--seed-levels", default="5",
                    help="levels where --seeds apply (others: seed 0); 'all': every level")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--n-patches", type=int, default=1200)
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow threads per training process")
    ap.add_argument("--programs", default="csbdeep,care_bridge",
                    help="comma-separated: csbdeep, care_bridge, care_bridge_bf16 (care_bridge trained with "
                         "--precision bf16: mixed precision, needs a CPU with bf16 instructions)")
    ap.add_argument("--csbdeep-order", choices=["own", "care_bridge_order"], default="own",
                    help="ablation: csbdeep trains on care_bridge's batch sequence for the same seed")
    ap.add_argument("--patches", choices=["shared", "own"], default="shared",
                    help="shared: one set of care_bridge patches for both programs; own: each program makes its "
                         "own from the training region with its own datagen (see the module docstring)")
    ap.add_argument("--quick", action="store_true", help="smoke run: level 5, 2 epochs x 5 steps, 160 patches")
    ap.add_argument("--out", default=None, help="JSON output (default benchmarks/results/fidelity[_quick].json)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_program(**json.loads(a.case))))
        return 0
    if a.quick:
        a.levels, a.epochs, a.steps, a.n_patches, a.seeds, a.seed_levels = "5", 2, 5, 160, 1, "all"
    import tifffile

    if a.image:
        img_path, mask_path = Path(a.image), (Path(a.mask) if a.mask else None)
        missing = [str(p) for p in (img_path, mask_path) if p is not None and not p.is_file()]
        if missing:
            print(f"fidelity: {', '.join(missing)} does not exist; {GET_DATA}", file=sys.stderr)
            return 2
    else:
        found = stardist_images()
        if found is None:
            print(f"fidelity: no image given and stardist is not installed; {GET_DATA}", file=sys.stderr)
            return 2
        img_path, mask_path = found
    gt = tifffile.imread(img_path).astype(np.float32)
    labels = tifffile.imread(mask_path) if mask_path else None
    if gt.ndim != 2:
        print(f"fidelity: {img_path} is {gt.ndim}D; a 2D image is needed", file=sys.stderr)
        return 2
    levels = [float(v) for v in a.levels.split(",")]
    seed_levels = levels if a.seed_levels in (None, "all") else [float(v) for v in a.seed_levels.split(",")]
    programs = a.programs.split(",")
    c = split_columns(gt.shape[1])
    gt_train, gt_test = gt[:, :c], gt[:, c:]
    lab_test = labels[:, c:] if labels is not None else None
    mach = machine(a.threads)
    print(f"ground truth {img_path} {gt.shape}; train columns [0, {c}), test [{c}, {gt.shape[1]}); noise "
          f"{NOISE}; {a.epochs} epochs x {a.steps} steps, batch {a.batch}, {a.patch}x{a.patch} patches; "
          f"{a.patches} patches; {a.threads} TF thread(s); {mach['cpu']}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="cb_fidelity_"))
    results, t_start, own = [], time.perf_counter(), a.patches == "own"
    for photons in levels:
        lw = work / f"P{photons:g}"
        data = make_level(lw, gt, photons)
        if not own:
            data |= care_bridge_patches(str(lw / "arrays.npz"), str(lw), a.n_patches, a.patch, seed=0)
        test_low, train_low = np.load(lw / "test_low.npy"), np.load(lw / "train_low.npy")
        sigma, _ = tune(gaussian, [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0], train_low, gt_train)
        hf, _ = tune(nl_means, [0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0], train_low, gt_train)
        methods = {"input": [evaluate(test_low, gt_test, lab_test)],
                   f"gaussian (s={sigma:g})": [evaluate(gaussian(test_low, sigma), gt_test, lab_test)],
                   f"nl-means (h={hf:g}s)": [evaluate(nl_means(test_low, hf), gt_test, lab_test)]}
        seeds = range(a.first_seed, a.first_seed + (a.seeds if photons in seed_levels else 1))
        for program in programs:
            runs = []
            for seed in seeds:
                out = lw / f"{program}_s{seed}"
                out.mkdir()
                case = {"program": program, "data": str((out if own else lw) / "arrays.npz"),
                        "test": str(lw / "test_low.npy"), "out": str(out), "epochs": a.epochs, "steps": a.steps,
                        "batch": a.batch, "seed": seed, "threads": a.threads,
                        "variant": a.csbdeep_order if program == "csbdeep" else
                        ("bf16" if program == "care_bridge_bf16" else "")}
                if own:
                    case["own_patches"] = {"region": str(lw), "n_patches": a.n_patches, "patch": a.patch}
                r = run_case(case)
                pred = np.load(r.pop("pred"))
                runs.append({"seed": seed, **evaluate(pred, gt_test, lab_test), **r})
                print(f"  P={photons:g} {program} seed {seed}: NRMSE {runs[-1]['nrmse']:.4f} SSIM "
                      f"{runs[-1]['ssim']:.4f} slope {runs[-1].get('slope', float('nan')):.3f} best epoch "
                      f"{r['best_epoch']} ({r['train_s']:.0f} s)"
                      + (f"; own patches {r['n_train']} + {r['n_validation']}" if own else ""), flush=True)
            methods[program] = runs
        results.append({"photons": photons, "data": data, "gaussian_sigma": sigma, "nl_means_h_factor": hf,
                        "methods": methods})
    print()
    print_table(results)
    out = Path(a.out) if a.out else HERE / "results" / ("fidelity_quick.json" if a.quick else "fidelity.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = {k: v for k, v in vars(a).items() if k != "case"}
    out.write_text(json.dumps({"args": args, "patches": a.patches, "image": str(img_path),
                               "mask": str(mask_path) if mask_path else None,
                               "split": {"train_columns": [0, c], "test_columns": [c, gt.shape[1]]},
                               "noise": NOISE, "machine": mach, "versions": versions(),
                               "total_s": time.perf_counter() - t_start, "levels": results}, indent=2))
    print(f"written to {out} ({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
