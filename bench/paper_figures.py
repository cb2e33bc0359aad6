"""The paper's figures from fitted runs of bench/paper_tables.py: affinities (Fig. 2), reconstructions (Fig. 3)
with PSNR, and a t-SNE of the latent space on MNIST-10k.

    python bench/paper_figures.py --data-dir ../shared/data [--suffix ""|_quick] [--tsne-points 3000]
                                  [--large-anchors 2000]

Reads the fitted states that paper_tables.py saves for its first seed (bench/results/paper_cache/state_*.pt)
and writes bench/results/paper_fig2_affinity_orl.png, paper_fig3_reconstructions.png,
paper_tsne_mnist10k.png and paper_figures.json (PSNRs, what each figure shows). Labels only order the
affinity's rows (as the paper's Fig. 2 does) and colour the t-SNE.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, VARIANT_NAMES, autoencoder_from_state, load_dataset
from provenance import provenance

CACHE = RESULTS / "paper_cache"


def load_state(dataset, variant, seed, suffix):
    import torch

    # the full tables' state, else --quick's (same configuration and seed)
    for suf in dict.fromkeys((suffix, "", "_quick")):
        path = CACHE / f"state_{dataset}_{variant}_s{seed}{suf}.pt"
        if path.is_file():
            state = torch.load(path, weights_only=False)
            state["path"] = str(path.relative_to(RESULTS.parent.parent))
            return state
    return None


def model_from_state(state, X):
    """The fitted auto-encoder (linear-output conv net, as paper_tables.py trains it)."""
    params = state["params"]
    if params.get("scale") != "minmax":
        raise ValueError(f"{state['path']}: expected a min-max scaled fit, got scale={params.get('scale')!r}")
    model = autoencoder_from_state(params, X, state["model"])
    model.eval()
    Xs = X.reshape(len(X), -1).astype(np.float32)
    Xs = (Xs - Xs.min()) / (Xs.max() - Xs.min())  # what PSSC's scale="minmax" fed the net
    return model, Xs


def psnr(x, x_hat):
    mse = float(np.mean((x - x_hat) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def large_codes(X10, anchors: int):
    """(codes of all 10k images, provenance) from fit_large on the fit_large benchmark's cached seed-0
    auto-encoder (10^6 pre-training samples): the fitted model of that benchmark's seed-0 run."""
    import copy

    from fit_large_scaling import mnist_autoencoder

    from pssc_fast import LargePSSC

    ae, _, _ = mnist_autoencoder(0, 1_000_000)
    est = LargePSSC(10, anchors=anchors, random_state=0, autoencoder=copy.deepcopy(ae), pretrain_samples=0).fit(X10)
    return est.transform(X10), (f"fit_large latent codes of all 10k test images: seed 0, {anchors} anchors, defaults, "
                                "started from bench/fit_large_scaling.py's cached auto-encoder (10^6 samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    parser.add_argument("--suffix", default="", help='"" for the full tables\' states, "_quick" for --quick\'s')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tsne-points", type=int, default=2000,
                        help="t-SNE on this many of the 10k test images (evenly spaced), to keep it cheap")
    parser.add_argument("--no-tsne", action="store_true", help="keep the t-SNE figure and entry already written")
    parser.add_argument("--large-anchors", type=int, default=None,
                        help="t-SNE the codes of fit_large (seed 0, this many anchors, its defaults otherwise) started "
                             "from the auto-encoder bench/fit_large_scaling.py cached, instead of a saved embedding")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    torch.set_num_threads(2)
    from pssc_fast.metrics import scores
    from pssc_fast.plotting import plot_affinity

    out_json = RESULTS / f"paper_figures{args.suffix}.json"
    info = json.loads(out_json.read_text()) if (args.no_tsne and out_json.is_file()) else {}
    # -- Fig. 2: block-ordered affinities of PSSC and DSC-L2 on ORL --------------------------------
    X, y = load_dataset("orl", args.data_dir)
    states = {v: load_state("orl", v, args.seed, args.suffix) for v in ("pssc", "dsc-l2")}
    if all(states.values()):
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), dpi=120)
        order = np.argsort(y, kind="stable")
        for ax, (v, st) in zip(axes, states.items()):
            A = np.abs(np.asarray(st["affinity"].toarray() if hasattr(st["affinity"], "toarray") else st["affinity"]))
            s = scores(y, st["labels"])
            ax.imshow(A[order][:, order] ** 0.5, cmap="viridis", interpolation="nearest")
            ax.set_title(f"{VARIANT_NAMES[v]} on ORL: ACC {s['acc']:.3f}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            plot_affinity(A, y, RESULTS / f"paper_fig2_affinity_orl_{v}.png",
                          title=f"{VARIANT_NAMES[v]}, ORL, rows ordered by true class")
            info[f"fig2_{v}"] = {"acc": s["acc"], "state": st["path"]}
        fig.suptitle("Affinity A (Alg. 2), rows/columns ordered by true class (paper Fig. 2); sqrt scale")
        fig.tight_layout()
        fig.savefig(RESULTS / "paper_fig2_affinity_orl.png")
        plt.close(fig)
    else:
        info["fig2"] = "missing fitted states for ORL PSSC / DSC-L2"

    # -- Fig. 3: inputs, reconstructions dec(enc(x)) and self-expressive ones dec((C0 Z)_i) ------------
    rows = []
    for ds in ("orl", "coil20", "mnist1k"):
        st = load_state(ds, "pssc", args.seed, args.suffix)
        if st is None:
            continue
        Xd, yd = load_dataset(ds, args.data_dir)
        model, Xs = model_from_state(st, Xd)
        with torch.no_grad():
            Xt = torch.from_numpy(Xs)
            Z = model.encode(Xt)
            rec = model.decode(Z).numpy()
            self_rec = model.decode(torch.from_numpy(st["coef"]) @ Z).numpy()
        pick = np.array([np.flatnonzero(yd == c)[0] for c in np.unique(yd)[:6]])
        side = int(np.sqrt(Xs.shape[1]))
        rows.append((ds, Xs[pick].reshape(-1, side, side), rec[pick].reshape(-1, side, side),
                     self_rec[pick].reshape(-1, side, side)))
        info[f"psnr_{ds}"] = {"state": st["path"], "autoencoder_dec_enc": psnr(Xs, rec), "self_expressive_dec_C0Z": psnr(Xs, self_rec),
                              "per_shown_image_dec_C0Z": [psnr(Xs[i], self_rec[i]) for i in pick]}
    if rows:
        fig, axes = plt.subplots(3 * len(rows), 6, figsize=(6.6, 3.5 * len(rows)), dpi=120)
        for r, (ds, xin, xrec, xself) in enumerate(rows):
            p = info[f"psnr_{ds}"]
            for j in range(6):
                for k, (img, label) in enumerate(((xin, "input"), (xrec, f"dec(enc x) {p['autoencoder_dec_enc']:.1f} dB"),
                                                  (xself, f"dec(C0 Z) {p['self_expressive_dec_C0Z']:.1f} dB"))):
                    ax = axes[3 * r + k, j]
                    ax.imshow(np.clip(img[j], 0, 1), cmap="gray", vmin=0, vmax=1)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if j == 0:
                        ax.set_ylabel(f"{ds}\n{label}", fontsize=6)
        fig.suptitle("PSSC reconstructions (paper Fig. 3); PSNR over the whole dataset, peak 1", fontsize=9)
        fig.tight_layout()
        fig.savefig(RESULTS / "paper_fig3_reconstructions.png")
        plt.close(fig)

    # -- t-SNE of the latent space on MNIST-10k ----------------------------------------------------
    from pssc_fast.datasets import load_mnist

    X10, y10 = load_mnist(args.data_dir)
    large_state = CACHE / "large_mnist10k_s0.pt"
    if args.no_tsne:
        Z10 = None
    elif args.large_anchors:
        Z10, source = large_codes(X10, args.large_anchors)
    elif large_state.is_file():
        saved = torch.load(large_state, weights_only=False)
        Z10, source = saved["embedding"], saved["source"]
    else:
        st = load_state("mnist1k", "pssc", args.seed, args.suffix)
        if st is None:
            Z10 = None
        else:
            model, X10s = model_from_state(st, X10.reshape(-1, 1, 28, 28))
            with torch.no_grad():
                Z10 = model.encode(torch.from_numpy(X10s)).numpy()
            source = ("conv encoder of the PSSC run on MNIST-1k (seed 0) applied to all 10k test images "
                      "(9,000 of them unseen in training)")
    if Z10 is not None:
        from sklearn.manifold import TSNE

        idx = np.linspace(0, len(y10) - 1, min(args.tsne_points, len(y10))).astype(int)
        t0 = time.perf_counter()
        E = TSNE(2, init="pca", random_state=0, perplexity=30).fit_transform(Z10[idx])
        fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
        sc = ax.scatter(E[:, 0], E[:, 1], c=y10[idx], cmap="tab10", s=3)
        ax.legend(*sc.legend_elements(), fontsize=6, loc="best", markerscale=0.7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t-SNE of latent codes, MNIST test set ({len(idx)} of 10k), coloured by true digit", fontsize=8)
        fig.tight_layout()
        fig.savefig(RESULTS / "paper_tsne_mnist10k.png")
        plt.close(fig)
        info["tsne"] = {"source": source, "points": int(len(idx)), "seconds": time.perf_counter() - t0}
    info["provenance"] = provenance()
    out_json.write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
