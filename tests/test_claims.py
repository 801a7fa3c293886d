"""The claims tier: each registered experiment's quick run asserts what its results page claims.

Each entry of ``CLAIMS`` names the section of ``docs/results/`` whose verdict it guards, checks
that verdict on the ``--quick`` run (seed 0) and lists negative controls: the same run with the
method broken (training cut to one step) or its numbers replaced by the baseline's, under which
the check must fail. ``make verify`` runs the tier (it is also part of ``make test``);
``pytest -m negative`` runs the controls, and docs/results/claims.md records what they did.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path

import pytest

from claimlib import Claim, Claims, Control, RunMetrics, scale_gradient, swap, untrained
from ctflow.experiments import experiment_names
from ctflow.runs import run_experiment

# ---------------------------------------------------------------------------------------------
# density models on 2D toys


def cnf_2d(c: Claims) -> None:
    # docs/results/cnf-2d.md "Verdict": maximum likelihood through the solver gets near the
    # entropy, with samples near the data-vs-data W2 floor. A minute gets within 1 nat on the
    # checkerboard and 0.6 on 8 Gaussians (an untrained flow is ~3 nats off).
    m = c.m
    c.below("checkerboard NLL within 1 nat of the entropy", m["cnf/checkerboard/nll_gap"], 1.0)
    c.below("8gaussians NLL within 0.6 nats of the entropy", m["cnf/8gaussians/nll_gap"], 0.6)
    # At quick size (250 steps) the samples sit at 1.6x the floor, now that the floor is a mean
    # over 4 draws; 1.5x held before only on a high single draw. Full size reaches 0.9x.
    c.below(
        "8gaussians samples within 2x the data-vs-data W2",
        m["cnf/8gaussians/w2"],
        2.0 * m["cnf/8gaussians/w2_data_vs_data"],
    )


def flow_matching_2d(c: Claims) -> None:
    # docs/results/flow-matching.md "Verdict (2D): reproduces": the OT path needs fewer dopri5
    # evaluations than the VP path (paper 0.63-0.78, bar 0.8) at a better NLL, and FM-OT's NLL
    # is near the entropy.
    m = c.m
    ratio = m["fm-ot/checkerboard/nfe_tol1e-05"] / m["fm-vp/checkerboard/nfe_tol1e-05"]
    c.below("OT/VP dopri5 NFE ratio at tol 1e-5 under the 0.8 bar", ratio, 0.8)
    c.below(
        "FM-OT NLL below FM-VP's",
        m["fm-ot/checkerboard/test_nll"],
        m["fm-vp/checkerboard/test_nll"],
    )
    c.below("FM-OT NLL within 0.6 nats of the entropy", m["fm-ot/checkerboard/nll_gap"], 0.6)


def meanflow_2d(c: Claims) -> None:
    # docs/results/meanflow.md "Verdict": one MeanFlow jump samples about as well as 100
    # evaluations of flow matching (full size: within 20% on W2), where one Euler step of the
    # flow-matching field is several times worse; shortcut models make the same one-step gain.
    m = c.m
    one_step_fm = m["fm/8gaussians/w2_1step"]
    c.below(
        "one MeanFlow jump: W2 under half of one flow-matching Euler step's",
        m["meanflow/8gaussians/w2_1step"],
        0.5 * one_step_fm,
    )
    c.below(
        "one MeanFlow jump within 1.6x the W2 of 100-NFE flow matching (quick size)",
        m["meanflow/8gaussians/w2_1step_over_ref"],
        1.6,
    )
    c.below(
        "one shortcut jump: W2 under half of one flow-matching Euler step's",
        m["shortcut/8gaussians/w2_1step"],
        0.5 * one_step_fm,
    )
    # MeanFlow with the model's own velocity in its target: within 1.2x at full size (4 x 256);
    # at quick size (3 x 128, 4000 steps) it is not ahead of the paper's target (seed 0: 1.42
    # against 1.26), so quick asserts only what both targets show
    c.below(
        "one own-velocity MeanFlow jump: W2 under half of one flow-matching Euler step's",
        m["meanflow-own/8gaussians/w2_1step"],
        0.5 * one_step_fm,
    )
    c.below(
        "one own-velocity MeanFlow jump within 1.6x the W2 of 100-NFE flow matching (quick size)",
        m["meanflow-own/8gaussians/w2_1step_over_ref"],
        1.6,
    )


def meanflow_digits(c: Claims) -> None:
    # docs/results/meanflow.md "Verdict (digits)": one MeanFlow jump passes two tests that one
    # Euler step of flow matching and an untrained jump each fail: W2 within the 1.2x of
    # 100-step flow matching (collapse onto class means passes it, noisy jumps do not), and a
    # 1-NN two-sample accuracy near real data's (noisy jumps pass it, collapse does not).
    m = c.m
    one_euler = m["fm/digits/nn1_1step"]
    c.below(
        "one MeanFlow jump: W2 within 1.2x of 100-NFE flow matching's",
        m["meanflow/digits/w2_1step_over_ref"],
        1.2,
    )
    c.below(
        "one MeanFlow jump: 1-NN accuracy at least 0.1 below one Euler step's",
        m["meanflow/digits/nn1_1step"],
        one_euler - 0.1,
    )
    c.below(
        "one MeanFlow jump: 1-NN accuracy within 0.25 of training images' (the floor)",
        m["meanflow/digits/nn1_1step"],
        m["data/digits/nn1_train_vs_test"] + 0.25,
    )
    c.above(
        "one MeanFlow jump: class accuracy above 0.85",
        m["meanflow/digits/class_accuracy_1step"],
        0.85,
    )
    c.below(
        "one shortcut jump: 1-NN accuracy at least 0.05 below one Euler step's",
        m["shortcut/digits/nn1_1step"],
        one_euler - 0.05,
    )


def discrete_fm_text(c: Claims) -> None:
    # docs/results/discrete-flow-matching.md "Verdict": mask-source discrete flow matching
    # models characters better than the independent model and than both dequantization flows
    # (its bits per character is a bound, so a lower bound-vs-bound comparison is fair), its
    # samples beat independent characters under a fixed trigram judge and improve with sampler
    # steps, and the causal model of equal size stays ahead.
    m = c.m
    dfm = m["dfm-mask/text/bits_per_char"]
    c.below(
        "mask DFM bits/char below the independent model's",
        dfm,
        m["independent/text/bits_per_char"] - 0.3,
    )
    c.below(
        "mask DFM bits/char below both dequantization flows'",
        dfm,
        min(m["voronoi/text/bits_per_char"], m["argmax/text/bits_per_char"]) - 0.5,
    )
    c.below(
        "the causal transformer of equal size is ahead of mask DFM", m["ar/text/bits_per_char"], dfm
    )
    c.below(
        "mask DFM samples (32 steps) beat independent characters under the trigram judge",
        m["dfm-mask/text/judge_bpc_32"],
        m["independent/text/judge_bpc"] - 0.5,
    )
    c.below(
        "mask DFM samples improve from 4 to 32 sampler steps",
        m["dfm-mask/text/judge_bpc_32"],
        m["dfm-mask/text/judge_bpc_4"] - 0.2,
    )


def conditional_2d(c: Claims) -> None:
    # docs/results/conditional.md "Verdict": minibatch OT within conditions keeps the
    # conditioning that a global plan destroys; guidance wrappers move samples to targets known
    # in closed form (classifier-free at w = 1, a reward tilt, discrete classifier-free).
    m = c.m
    for coupling in ("exact", "sinkhorn"):
        c.above(
            f"{coupling} coupling within conditions: class accuracy above 0.97",
            m[f"{coupling}/2d/accuracy"],
            0.97,
        )
    c.below(
        "a global coupling breaks conditioning: accuracy 0.3 below within-condition exact's",
        m["global/2d/accuracy"],
        m["exact/2d/accuracy"] - 0.3,
    )
    c.below(
        "within-condition exact coupling: class W2 within 1.5x independent pairs' + 0.05",
        m["exact/2d/w2"],
        1.5 * m["independent/2d/w2"] + 0.05,
    )
    c.below(
        "classifier-free guidance at w = 1 (trained): W2 within 2x the two-sample floor",
        m["cfg/w1/w2_trained"],
        2 * m["cfg/w1/w2_floor"],
    )
    c.below(
        "reward guidance (trained field, t_min 0.1): W2 to the tilt under half the unguided",
        m["reward/tmin0.1/w2_trained"],
        0.5 * m["reward/unguided/w2"],
    )
    c.below(
        "discrete classifier-free guidance at w = 2 (trained): TV to the tilt under 0.1",
        m["dfm-cfg/w2/tv_trained"],
        0.1,
    )


def flow_matching_digits(c: Claims) -> None:
    # docs/results/flow-matching.md "Verdict (digits): reproduces": fewer evaluations for the OT
    # path on real 64-d data, a lower bits/dim, and guidance makes the requested class.
    m = c.m
    c.below(
        "OT/VP dopri5 NFE ratio under 0.8",
        m["fm-ot/digits/nfe"] / m["fm-vp/digits/nfe"],
        0.8,
    )
    c.below("FM-OT bits/dim below FM-VP's", m["fm-ot/digits/bpd"], m["fm-vp/digits/bpd"])
    c.above(
        "guided (w = 2) FM-OT samples of the asked class", m["fm-ot/digits/class_accuracy_w2"], 0.8
    )
    c.below(
        "unguided samples near chance (0.1)",
        m["fm-ot/digits/class_accuracy_w0"],
        0.3,
        validity=True,
    )


# ---------------------------------------------------------------------------------------------
# CP-Flow


def cpflow_ot(c: Claims) -> None:
    # docs/results/cpflow.md "cpflow-ot": the max-likelihood CP-Flow is the optimal map (>= 10x
    # below the zuko flows' map error) and transports at W2^2, while all fit the density.
    m = c.m
    ds = "gaussian-ot"
    for kind in ("maf", "nsf"):
        c.above(
            f"{kind} map error >= 10x CP-Flow's",
            m[f"{kind}/{ds}/map_mse"] / m[f"cpflow/{ds}/map_mse"],
            10.0,
        )
    c.within(
        "CP-Flow transport cost = W2^2 (5%)",
        m[f"cpflow/{ds}/transport_cost"],
        m[f"exact/{ds}/w2_squared"],
        0.05 * m[f"exact/{ds}/w2_squared"],
    )
    c.within(
        "CP-Flow NLL at the entropy (0.05)",
        m[f"cpflow/{ds}/test_nll"],
        m[f"exact/{ds}/entropy"],
        0.05,
    )


def cpflow_2d(c: Claims) -> None:
    # docs/results/cpflow.md "cpflow-2d", verdict partly: competitive on smooth data (CP-Flow and
    # MAF tie on 8 Gaussians, NSF best). Quick runs 8 Gaussians only.
    m = c.m
    c.below("CP-Flow NLL within 0.6 nats of the entropy", m["cpflow/8gaussians/nll_gap"], 0.6)
    c.within(
        "CP-Flow ties MAF (0.15 nats)",
        m["cpflow/8gaussians/test_nll"],
        m["maf/8gaussians/test_nll"],
        0.15,
    )
    c.below("NSF best", m["nsf/8gaussians/test_nll"], m["cpflow/8gaussians/test_nll"])


def cpflow_tabular(c: Claims) -> None:
    # docs/results/cpflow.md "cpflow-tabular", verdict reproduces "competitive": at equal size
    # CP-Flow's test NLL is the lowest on wine (quick: wine only), and well below N(0, I)'s on
    # the standardised data (an untrained CP-Flow is near it).
    from ctflow.data.tabular import load_table

    m = c.m
    features = load_table("wine", seed=0, test_fraction=0.2)[0].shape[1]
    standard_normal = 0.5 * features * math.log(2 * math.pi * math.e)
    c.below(
        "CP-Flow test NLL 1.5 nats below N(0, I)'s",
        m["cpflow/wine/test_nll"],
        standard_normal - 1.5,
    )
    for kind in ("maf", "nsf"):
        c.below(
            f"CP-Flow test NLL below {kind}'s on wine",
            m["cpflow/wine/test_nll"],
            m[f"{kind}/wine/test_nll"],
        )


def cpflow_vae(c: Claims) -> None:
    # docs/results/cpflow.md "cpflow-vae", verdict partly: CP-Flow posteriors tighten the bound
    # over the diagonal Gaussian; importance sampling tightens every bound.
    m = c.m
    c.above(
        "CP-Flow posterior ELBO above the Gaussian's",
        m["cpflow/digits/test_elbo"],
        m["gaussian/digits/test_elbo"],
    )
    for kind in ("gaussian", "iaf", "cpflow"):
        c.that(
            f"{kind}: IWAE >= ELBO, and learned (ELBO > -25; untrained ~ -44)",
            m[f"{kind}/digits/test_iwae"] >= m[f"{kind}/digits/test_elbo"] - 0.01
            and m[f"{kind}/digits/test_elbo"] > -25.0,
            f"iwae {m[f'{kind}/digits/test_iwae']:.3f}, elbo {m[f'{kind}/digits/test_elbo']:.3f}",
        )


# ---------------------------------------------------------------------------------------------
# neural conservation laws


def ncl_euler(c: Claims) -> None:
    # docs/results/ncl.md "Verdict": NCL's mass is constant and its field divergence-free to
    # round-off while the PINN's drift; at equal steps NCL's Taylor-Green error is the lower.
    m = c.m
    c.below("NCL mass drift at round-off", m["ncl/variable-density/mass_drift_max"], 1e-9)
    c.above(
        "PINN mass drift >= 1e3x NCL's",
        m["pinn/variable-density/mass_drift_max"],
        1e3 * max(m["ncl/variable-density/mass_drift_max"], 1e-16),
    )
    c.below("NCL Taylor-Green divergence at round-off", m["ncl/taylor-green/div_rms"], 1e-9)
    c.below(
        "NCL Taylor-Green error (t-average) below the PINN's at equal steps",
        m["ncl/taylor-green/rel_error_mean"],
        m["pinn/taylor-green/rel_error_mean"],
    )


def ncl_hodge(c: Claims) -> None:
    # docs/results/ncl.md "Verdict": the divergence-free net recovers the divergence-free part
    # (exactly divergence-free, unlike the potential net's) with the lower error; at d <= 5 over
    # a field and its mirror (the parts' waves swapped; "Why d <= 5 goes either way per seed").
    m = c.m
    for d in (3, 5):
        c.below(f"d={d}: NCL divergence at round-off", m[f"ncl/d{d}/div_rms"], 1e-5)
        c.above(f"d={d}: the potential net's divergence is not", m[f"potential/d{d}/div_rms"], 1e-3)
        c.below(
            f"d={d}: NCL relative error < 0.05 (both start at 1)", m[f"ncl/d{d}/rel_error"], 0.05
        )
    mirror = c.rerun({"swap_parts": True})
    for d in (3, 5):
        pair = {
            method: m[f"{method}/d{d}/rel_error"] * mirror[f"{method}/d{d}/rel_error"]
            for method in ("ncl", "potential")
        }
        c.below(
            f"d={d}: NCL error below the potential's over field and mirror",
            pair["ncl"],
            pair["potential"],
        )


def ncl_ot(c: Claims) -> None:
    # docs/results/ncl.md "Verdict": on Gaussian pairs the transport cost of the learned flow is
    # within 5% of the closed-form W2^2 (full size; a minute gets within 15%) and the
    # transported samples reach the target; on two blobs the endpoints match too.
    m = c.m
    for pair in ("gauss-iso", "gauss-aniso"):
        c.below(
            f"{pair}: abs(transport cost / W2^2 - 1) < 0.15",
            abs(m[f"ncl/{pair}/w2sq_transport_rel_error"]),
            0.15,
        )
    for pair in ("gauss-iso", "gauss-aniso", "two-blobs"):
        c.below(
            f"{pair}: the flow reaches the target (KL at t = 1 < 0.1)", m[f"ncl/{pair}/kl_t1"], 0.1
        )


# ---------------------------------------------------------------------------------------------
# Voronoi dequantization and mixtures


def voronoi_discrete2d(c: Claims) -> None:
    # docs/results/voronoi.md "Verdict (discrete 2D)": with permuted labels Voronoi
    # dequantization's bound is tighter than uniform dequantization's, it is insensitive to the
    # permutation, and it samples closest to the law; every bound is a bound (above the entropy).
    m = c.m
    perm, orig = "plus10-permuted", "plus10"
    c.below(
        "permuted labels: Voronoi -IWAE below uniform's",
        m[f"voronoi/{perm}/neg_iwae"],
        m[f"uniform/{perm}/neg_iwae"],
    )
    cost = {
        k: m[f"{k}/{perm}/neg_iwae"] - m[f"{k}/{orig}/neg_iwae"] for k in ("voronoi", "uniform")
    }
    c.below("the permutation costs Voronoi less than uniform", cost["voronoi"], cost["uniform"])
    c.below(
        "permuted labels: Voronoi samples closer to the law (TV) than uniform's",
        m[f"voronoi/{perm}/sample_tv"],
        m[f"uniform/{perm}/sample_tv"],
    )
    for key, value in m.items():
        if key.endswith("/iwae_gap"):
            c.above(f"{key} is a bound (> -0.05)", value, -0.05, validity=True)


def voronoi_mixture(c: Claims) -> None:
    # docs/results/voronoi.md "Verdict (mixture NLL): partly": with heavy-tailed components the
    # mixtures' NLL stays within a few tenths of the coupling flow's on 8 Gaussians (no
    # catastrophic cell-boundary NLLs), with the coupling flow's standard error. (The gain on
    # breast-cancer, every seed at full size, does not show at quick size, where the mixture is
    # 2.3-3.0 nats behind in seeds 0-2: not asserted. Gaussian tails put it 7.9 behind in seed
    # 0, so 5 nats separates the two. On breast-cancer the coupling flow's test NLL is dominated
    # by a few far test points, which the heavy tails make cheap: the mixture's standard error is
    # 0.36x the coupling flow's at full size, 0.37-0.45x at quick size; Gaussian tails 0.82x.)
    m = c.m
    c.below(
        "coupling flow learns 8 Gaussians (within 0.3 of the entropy)",
        m["coupling/8gaussians/test_nll"],
        m["coupling/8gaussians/entropy"] + 0.3,
    )
    for ds, slack, spread in (("8gaussians", 0.75, 1.5), ("breast-cancer", 5.0, 0.6)):
        base = f"coupling/{ds}"
        for key in sorted(k for k in m if k.startswith("voronoi-mixture-") and f"/{ds}/" in k):
            if key.endswith("/test_nll"):
                c.below(
                    f"{key} within {slack} of the coupling flow's",
                    m[key],
                    m[f"{base}/test_nll"] + slack,
                )
            if key.endswith("/test_nll_stderr"):
                c.below(
                    f"{key} < {spread}x the coupling flow's",
                    m[key],
                    spread * m[f"{base}/test_nll_stderr"],
                )


def voronoi_realdiscrete(c: Claims) -> None:
    # docs/results/voronoi.md "voronoi-realdiscrete", verdict partly and undertrained: at short
    # budgets both dequantizations learn the digits (below the uniform code, log2 17 bits) and
    # argmax the characters; Voronoi needs ~2000 steps on characters, so it is not asserted
    # there. The importance-weighted bound is the tighter one.
    from ctflow.data import DIGITS_LEVELS
    from ctflow.data.text import load_text

    m = c.m
    uniform = {"digits": math.log2(DIGITS_LEVELS), "text": math.log2(len(load_text()[2]))}
    for key in ("voronoi/digits", "argmax/digits", "argmax/text"):
        ds = key.split("/")[1]
        c.below(f"{key}: below the uniform code length", m[f"{key}/bits_per_var"], uniform[ds])
    for key, value in sorted(m.items()):
        if key.endswith("/elbo_bits_per_var"):
            iwae = m[key.replace("elbo_bits_per_var", "bits_per_var")]
            c.that(
                f"{key}: IWAE at least as tight as the ELBO",
                value >= iwae - 0.02,
                f"{value:.4f} vs {iwae:.4f}",
                validity=True,
            )


# ---------------------------------------------------------------------------------------------
# Riemannian CNFs trained by probability path divergence


def ppd_sphere(c: Claims) -> None:
    # docs/results/ppd.md "Verdict", known-density S^2: at the same budget PPD lands closer to
    # the target than maximum likelihood and flow matching (the speed-up is measured by the full
    # runs and benchmarks/ppd.py, not asserted).
    m = c.m
    ds = "vmf-mixture"
    for other in ("mle", "rfm"):
        c.below(f"PPD KL below {other}'s", m[f"ppd/{ds}/kl"], m[f"{other}/{ds}/kl"])
    uniform_kl = math.log(4 * math.pi) - m[f"target/{ds}/entropy"]
    c.below("PPD KL < 0.25x the uniform base's", m[f"ppd/{ds}/kl"], 0.25 * uniform_kl)


def ppd_earth(c: Claims) -> None:
    # docs/results/ppd.md "Verdict", earth data: not reproduced at CPU scale (maximum likelihood,
    # at its tuned rate and full budget, has the better NLL). What the quick run guards: PPD
    # learns every dataset, well below the uniform base's NLL. (The comparison is not asserted:
    # at quick size maximum likelihood gets 60 steps and is far from its full-size result.)
    m = c.m
    uniform = math.log(4 * math.pi)
    for ds in ("volcano", "flood"):
        c.below(
            f"{ds}: PPD NLL below the uniform base's - 0.2", m[f"ppd/{ds}/test_nll"], uniform - 0.2
        )


def ppd_highdim(c: Claims) -> None:
    # docs/results/ppd.md "Verdict", high dimensions, partly: PPD with Hutchinson's divergence
    # learns on tori up to T^20, but its KL per dimension is above flow matching's at d = 20.
    m = c.m
    for d in (2, 10, 20):
        c.below(
            f"d={d}: PPD KL/dim < 0.75x uniform's",
            m[f"ppd/d{d}/kl_per_dim"],
            0.75 * m[f"uniform/d{d}/kl_per_dim"],
        )
    c.above(
        "d=20: PPD KL/dim above flow matching's", m["ppd/d20/kl_per_dim"], m["rfm/d20/kl_per_dim"]
    )


# ---------------------------------------------------------------------------------------------
# SDE Bayesian neural networks


def sdebnn_stl(c: Claims) -> None:
    # docs/results/sdebnn.md "sdebnn-stl": STL variance falls with the step count while the
    # path and full estimators stay flat; all three agree in mean; the exact posterior attains
    # the evidence.
    m = c.m
    c.below(
        "STL variance at 1000 steps < 1% of at 20",
        m["stl/ou/grad_var_steps1000"],
        0.01 * m["stl/ou/grad_var_steps20"],
    )
    c.below(
        "STL variance at 1000 steps < 1% of path's",
        m["stl/ou/grad_var_steps1000"],
        0.01 * m["path/ou/grad_var_steps1000"],
    )
    for other in ("path", "full"):
        c.above(
            f"{other} variance stays flat (> 0.3x from 20 to 1000 steps)",
            m[f"{other}/ou/grad_var_steps1000"],
            0.3 * m[f"{other}/ou/grad_var_steps20"],
        )
    for other in ("path", "stl"):
        c.below(
            f"{other} mean gradient agrees with full's (max z < 4)",
            m[f"{other}/ou/off_mean_diff_vs_full_max_z"],
            4.0,
            validity=True,
        )
    gap = abs(m["exact/ou/elbo_steps1000"] - m["exact/ou/log_evidence"])
    c.below(
        "exact posterior's ELBO = log evidence (4 stderr)",
        gap,
        4 * m["exact/ou/elbo_stderr_steps1000"] + 0.01,
        validity=True,
    )


def sdebnn_digits(c: Claims) -> None:
    # docs/results/sdebnn.md "sdebnn-digits", verdict partly (weakly): all three models learn
    # the digits and tell shuffled images from real ones; the SDE-BNN's ECE is lowest on the
    # 5-seed mean only, so it is not asserted on one seed.
    m = c.m
    for model in ("sdebnn", "odenet", "mfvi"):
        c.above(f"{model} accuracy > 0.85", m[f"{model}/digits/accuracy"], 0.85)
        c.above(
            f"{model} OOD AUROC (shuffled pixels) > 0.6", m[f"{model}/digits/auroc_shuffle"], 0.6
        )


def sdebnn_regression(c: Claims) -> None:
    # docs/results/sdebnn.md "sdebnn-regression": the SDE-BNN fits as well as the ODE net, with
    # bands that cover the data. (MFVI's underfit at the full 2000 iterations does not show at
    # the quick 600, so it is not asserted.)
    m = c.m
    c.below("SDE-BNN RMSE < 0.2 (noise 0.1)", m["sdebnn/toy1d/rmse"], 0.2)
    c.below(
        "SDE-BNN RMSE within 0.02 of the ODE net's",
        m["sdebnn/toy1d/rmse"],
        m["odenet/toy1d/rmse"] + 0.02,
    )
    c.above("SDE-BNN 95% band covers > 90% of test points", m["sdebnn/toy1d/coverage95"], 0.9)


# ---------------------------------------------------------------------------------------------
# differentiable quantum steady states


def steady_state_light(c: Claims) -> None:
    # docs/results/steady-state.md "steady-state-light": gradient ascent from the reference
    # notebook's start takes the efficiency from 0.097 past 0.979 (step 123 at full size), and
    # the implicit gradient matches central finite differences.
    m = c.m
    c.above(
        "ascent beats the initial efficiency by > 0.5",
        m["ascent/light/eta_final"],
        m["ascent/light/eta_initial"] + 0.5,
    )
    c.above(
        "efficiency after ascent > 0.979 (the paper's value)", m["ascent/light/eta_final"], 0.979
    )
    c.below(
        "implicit gradient vs central FD (rel. err.)", m["ascent/light/grad_vs_fd_rel_err"], 1e-6
    )
    c.below(
        "gradient independent of the forward method", m["ascent/light/grad_methods_rel_diff"], 1e-8
    )


def steady_state_heat(c: Claims) -> None:
    # docs/results/steady-state.md "steady-state-heat": gradient ascent finds better designs
    # than a grid of the same solve budget; gradients and the Jacobian match finite differences.
    m = c.m
    for objective in ("heat_current", "rectification"):
        c.above(
            f"{objective}: ascent beats the grid",
            m[f"ascent/heat/{objective}_ascent_over_grid"],
            1.0,
        )
        c.below(
            f"{objective}: gradient vs FD", m[f"ascent/heat/{objective}_grad_vs_fd_rel_err"], 1e-6
        )
    c.below("pump sweep Jacobian vs FD", m["sweep/heat/jacobian_vs_fd_max_rel_err"], 1e-6)


# ---------------------------------------------------------------------------------------------
# SMAC


def smac_entropy(c: Claims) -> None:
    # docs/results/smac.md "smac-entropy": the bound rises with K, starts at the conditional
    # entropy, is within 0.05 nats of the entropy at K = 128, and matches the paper note's values.
    m = c.m
    ks = sorted(
        int(k.rsplit("_k", 1)[1]) for k in m if k.startswith("smac/latent-gaussian/bound_k")
    )
    bounds = [m[f"smac/latent-gaussian/bound_k{k}"] for k in ks]
    c.that("the bound rises with K", all(b > a for a, b in zip(bounds, bounds[1:])), f"{bounds}")
    gap = m["exact/latent-gaussian/entropy"] - m["smac/latent-gaussian/bound_k128"]
    c.that("0 < entropy - bound(K=128) < 0.05", 0 < gap < 0.05, f"{gap:.4f}")
    c.within(
        "K = 0 is the conditional entropy (4 stderr)",
        m["smac/latent-gaussian/bound_k0"],
        m["exact/latent-gaussian/conditional_entropy"],
        4 * m["smac/latent-gaussian/stderr_k0"],
        validity=True,
    )
    for key in sorted(k for k in m if k.startswith("paper/")):
        # the note gives 3 decimals; ours carry Monte Carlo error (quick: 100k draws per K)
        k = key.rsplit("_k", 1)[1]
        tol = 4 * m[f"smac/latent-gaussian/stderr_k{k}"] + 0.0005
        ours = m[key.replace("paper/", "smac/")]
        # K = 0 is the conditional entropy whatever the marginal bound does
        validity = k == "0"
        c.within(f"K = {k}: the paper note's value (4 stderr)", ours, m[key], tol, validity)


def smac_bandit(c: Claims) -> None:
    # docs/results/smac.md "smac-bandit", verdict partly: only SMAC puts its mass on the reward
    # bumps (higher expected reward); SAC and latent SAC stay spread over the interval.
    m = c.m
    mass = {k: m[f"{k}/bandit/mass_neg"] + m[f"{k}/bandit/mass_pos"] for k in METHODS_BANDIT}
    c.above("SMAC mass near the bumps > 0.7", mass["smac"], 0.7)
    for method in ("sac", "latent-sac"):
        c.below(f"{method} stays spread (mass near the bumps < 0.6)", mass[method], 0.6)
        c.above(
            f"SMAC expected reward > {method}'s + 0.2",
            m["smac/bandit/expected_reward"],
            m[f"{method}/bandit/expected_reward"] + 0.2,
        )


METHODS_BANDIT = ("sac", "latent-sac", "smac")


def smac_control(c: Claims) -> None:
    # docs/results/smac.md "smac-control", verdict not reproduced at this scale (SMAC ties SAC).
    # What holds: SAC and SMAC learn Pendulum, beating a uniformly random policy's return by
    # more than 2 standard deviations of that return over 20 episode seeds.
    m = c.m
    random_mean = m["random/pendulum/return"]
    margin = 2 * m["random/pendulum/return_std"]
    for method in ("sac", "smac"):
        c.above(
            f"{method} (mean of the last two evaluations) beats the random policy by 2 std",
            m[f"{method}/pendulum/last2_return"],
            random_mean + margin,
        )


# ---------------------------------------------------------------------------------------------
# GFlowNets


def gfn_hypergrid(c: Claims) -> None:
    # docs/results/gfn.md "gfn-hypergrid", verdict reproduces: TB, DB and SubTB each learn R/Z
    # (exact L1 over the grid) and log Z.
    m = c.m
    for obj in ("tb", "db", "subtb"):
        c.below(
            f"{obj}: L1 to R/Z < 5% of the uniform policy's",
            m[f"{obj}/hypergrid/l1"],
            0.05 * m["uniform/hypergrid/l1"],
        )
        c.below(f"{obj}: log Z error < 0.05", m[f"{obj}/hypergrid/log_z_error"], 0.05)


def gfn_unify_2d(c: Claims) -> None:
    # docs/results/gfn.md "gfn-unify-2d", verdict partly: MLE-GFN gives a valid bound (above the
    # entropy, IWAE tighter than the ELBO), tighter than DDPM's, not below flow matching's NLL.
    m = c.m
    ds = "checkerboard"
    for method in ("mle-gfn", "ddpm"):
        key = f"{method}/{ds}"
        c.above(
            f"{method}: -IWAE above the entropy (4 stderr)",
            m[f"{key}/neg_iwae"],
            m[f"{key}/entropy"] - 4 * m[f"{key}/neg_iwae_stderr"],
            validity=True,
        )
        c.that(
            f"{method}: -ELBO >= -IWAE",
            m[f"{key}/neg_elbo"] >= m[f"{key}/neg_iwae"] - 0.05,
            f"{m[f'{key}/neg_elbo']:.3f} vs {m[f'{key}/neg_iwae']:.3f}",
            validity=True,
        )
    # the bound is close to the data's entropy only if P_F learned (untrained: ~95 nats); the
    # ordering against DDPM alone cannot tell, since two untrained models tie at random
    c.below(
        "MLE-GFN trains: -IWAE within 3 nats of the entropy",
        m[f"mle-gfn/{ds}/neg_iwae"] - m[f"mle-gfn/{ds}/entropy"],
        3.0,
    )
    c.below("MLE-GFN -IWAE below DDPM's", m[f"mle-gfn/{ds}/neg_iwae"], m[f"ddpm/{ds}/neg_iwae"])
    c.below(
        "flow matching's exact NLL below MLE-GFN's bound",
        m[f"fm-ot/{ds}/test_nll"],
        m[f"mle-gfn/{ds}/neg_iwae"],
    )


# ---------------------------------------------------------------------------------------------
# sequence compression


def compress_rd(c: Claims) -> None:
    from ctflow.compress import MIN_OVERLAP

    # docs/results/compression.md "Verdict": real bitstreams (exact round trip, payload = model
    # rate); rate-distortion optimal time points need far fewer bits than the uniform grid on
    # bouncing balls (29.2% at full size) and gain much less on the smooth control; adaptive
    # knots beat uniform knots on balls.
    m = c.m
    for ds in ("bouncing-balls", "smooth-control"):
        c.that(
            f"{ds}: exact round trip",
            m[f"learned/{ds}/roundtrip_exact"] == 1.0,
            str(m[f"learned/{ds}/roundtrip_exact"]),
        )
        c.below(
            f"{ds}: payload within 1% of the model rate",
            m[f"learned/{ds}/payload_vs_model_max_rel_dev"],
            0.01,
        )
    # BD-rates from curves that overlap. The knot curves come from the fixed non-neural coder,
    # so no training control moves them: a validity check of the rule. The rd-oracle's need a
    # trained model.
    for pair in ("rd-oracle/{}/bd_overlap_vs_uniform", "knots/{}/bd_overlap_vs_knots-uniform"):
        for ds in ("bouncing-balls", "smooth-control"):
            key = pair.format(ds)
            validity = key.startswith("knots")
            c.that(f"{key} >= {MIN_OVERLAP}", m[key] >= MIN_OVERLAP, f"{m[key]:.3f}", validity)
    balls = m["rd-oracle/bouncing-balls/bd_rate_vs_uniform"]
    c.below("balls: rd-oracle BD-rate vs uniform < -20%", balls, -20.0)
    c.below(
        "balls gain > smooth control's by 10 points",
        balls,
        m["rd-oracle/smooth-control/bd_rate_vs_uniform"] - 10.0,
    )
    c.below(
        "balls: adaptive knots beat uniform knots",
        m["knots/bouncing-balls/bd_rate_vs_knots-uniform"],
        0.0,
    )
    # the keep network's points refined at the encoder close most of its gap to the teacher
    c.below(
        "balls: refining the keep network's points gains > 10 points of BD-rate",
        m["learned-refined/bouncing-balls/bd_rate_vs_uniform"],
        m["learned/bouncing-balls/bd_rate_vs_uniform"] - 10.0,
    )


def compress_framerate(c: Claims) -> None:
    # docs/results/compression.md "Verdict", any frame rate: decoding at 2x the coded rate keeps
    # the coded frames' quality (within 0.3 dB at full size), at the quality of a trained codec.
    m = c.m
    for ds in ("bouncing-balls", "mocap"):
        for codec in ("learned", "all-points"):
            key = f"{codec}/{ds}"
            c.above(
                f"{key}: in-between PSNR within 0.5 dB of the coded frames'",
                m[f"{key}/psnr_new_frames"],
                m[f"{key}/psnr_grid_frames"] - 0.5,
            )
            c.above(f"{key}: in-between PSNR > 25 dB", m[f"{key}/psnr_new_frames"], 25.0)


def compress_mocap(c: Claims) -> None:
    # docs/results/compression.md "compress-mocap": the joint-path codec learns the take's paths
    # and its learned time points cut bits against every point at a small error. (It does not
    # beat the knot coder or lzma at equal error: that is recorded, not claimed.)
    m = c.m
    c.below("take: every point, RMS < 1 (the autoencoder learns joint paths)",
            m["all-points/take/rms"], 1.0)  # fmt: skip
    ratio = m["learned/take/bits_per_frame"] / m["all-points/take/bits_per_frame"]
    c.that(
        "take: learned time points < 0.9x the bits of every point, at RMS < 1",
        ratio < 0.9 and m["learned/take/rms"] < 1.0,
        f"{ratio:.3f} < 0.9 and {m['learned/take/rms']:.3g} < 1",
    )


def conditional_entropy_only(metrics):
    """smac-entropy's control: every K scored by the K = 0 (conditional entropy) estimate."""
    out = dict(metrics)
    for key in metrics:
        if key.startswith("smac/latent-gaussian/bound_k"):
            out[key] = metrics["smac/latent-gaussian/bound_k0"]
    return out


def light_gradients_off(monkeypatch) -> None:
    """Both implicit gradients of the light-harvesting steady state 0.1% off (values exact)."""
    from ctflow.quantum import light_harvesting

    solve_state = light_harvesting.LightHarvestingVSystem.steady_state
    fixed_point = light_harvesting.fixed_point

    def steady_state(self, params, method="solve"):
        x = solve_state(self, params, method)
        return scale_gradient(x, 1.001) if method == "solve" else x

    monkeypatch.setattr(light_harvesting.LightHarvestingVSystem, "steady_state", steady_state)
    monkeypatch.setattr(
        light_harvesting,
        "fixed_point",
        lambda *args, **kwargs: scale_gradient(fixed_point(*args, **kwargs), 0.999),
    )


def heat_gradients_off(monkeypatch) -> None:
    """Every implicit gradient and Jacobian of the Liouvillian steady state 0.1% off."""
    steady_state = importlib.import_module("ctflow.quantum.steady_state")  # the module
    backward = steady_state._SteadyState.backward

    def off(ctx, grad_x):
        grad_L, *rest = backward(ctx, grad_x)
        return (1.001 * grad_L, *rest)

    monkeypatch.setattr(steady_state._SteadyState, "backward", staticmethod(off))
    heat = importlib.import_module("ctflow.experiments.steady_state_heat")
    jacobian = heat.steady_state_jacobian
    monkeypatch.setattr(heat, "steady_state_jacobian", lambda *a, **k: 1.001 * jacobian(*a, **k))


def bitstream_off(monkeypatch) -> None:
    """A decoder that misreads one latent by one bin, and a coder 2% over the model rate."""
    import dataclasses

    train = importlib.import_module("ctflow.compress.train")
    encode, decode_latents = train.encode, train.decode_latents

    def padded(*args, **kwargs):
        stream, info = encode(*args, **kwargs)
        return stream, dataclasses.replace(info, payload_bits=round(1.02 * info.payload_bits))

    def misread(*args, **kwargs):
        q, *rest = decode_latents(*args, **kwargs)
        q = q.copy()
        q.flat[0] += 1
        return (q, *rest)

    monkeypatch.setattr(train, "encode", padded)
    monkeypatch.setattr(train, "decode_latents", misread)


def hold_between_frames(monkeypatch) -> None:
    """Any-time decoding broken: between coded grid times, hold the last coded frame."""
    import numpy as np

    from ctflow.compress import bitstream

    framerate = importlib.import_module("ctflow.experiments.compress_framerate")
    decode = framerate.decode

    def held(codec, stream, times=None):
        if times is None:
            return decode(codec, stream)
        grid = np.asarray(bitstream.decode_latents(codec, stream)[2])
        index = np.clip(np.searchsorted(grid, times, side="right") - 1, 0, None)
        return decode(codec, stream, grid[index])

    monkeypatch.setattr(framerate, "decode", held)


def ascent_controls(patch) -> tuple[Control, ...]:
    """A steady-state design's controls: no ascent, negligible steps, and wrong gradients."""
    return (
        untrained("iterations"),
        Control("gradient steps made negligible (lr=1e-12)", {"lr": 1e-12}),
        Control("implicit gradients 0.1% off, values exact", patch=patch),
    )


# ---------------------------------------------------------------------------------------------
# the registry: experiment -> (doc section, check, negative controls)

CLAIMS: dict[str, Claim] = {
    "cnf-2d": Claim("cnf-2d.md#against-the-references", cnf_2d, (untrained("steps"),)),
    "flow-matching-2d": Claim(
        "flow-matching.md#verdict-2d-reproduces",
        flow_matching_2d,
        (
            untrained("steps"),
            Control("FM-OT's numbers replaced by FM-VP's", transform=swap(fm_ot="fm-vp")),
        ),
    ),
    "meanflow-2d": Claim(
        "meanflow.md#verdict-2d",
        meanflow_2d,
        (
            untrained("steps"),
            Control(
                "MeanFlow (both targets) and shortcut trained as plain flow matching (s = t only)",
                {"equal_fraction": 1.0, "consistency_fraction": 0.0},
            ),
        ),
    ),
    "meanflow-digits": Claim(
        "meanflow.md#verdict-digits",
        meanflow_digits,
        (
            untrained("steps"),
            Control(
                "MeanFlow (both targets) and shortcut trained as plain flow matching (s = t only)",
                {"equal_fraction": 1.0, "consistency_fraction": 0.0},
            ),
        ),
    ),
    "discrete-fm-text": Claim(
        "discrete-flow-matching.md#verdict",
        discrete_fm_text,
        (
            untrained("steps"),
            Control(
                "mask DFM's numbers replaced by uniform DFM's",
                transform=swap(dfm_mask="dfm-uniform"),
            ),
            Control(
                "the causal model's numbers replaced by the independent model's",
                transform=swap(ar="independent"),
            ),
        ),
    ),
    "conditional-2d": Claim(
        "conditional.md#verdict",
        conditional_2d,
        (
            untrained("steps", "discrete_steps"),
            Control(
                "within-condition exact coupling's numbers replaced by the global coupling's",
                transform=swap(exact="global"),
            ),
        ),
    ),
    "flow-matching-digits": Claim(
        "flow-matching.md#flow-matching-digits-real-images-scikit-learn-digits-8x8-17-grey-levels",
        flow_matching_digits,
        (
            untrained("steps"),
            Control("FM-OT's numbers replaced by FM-VP's", transform=swap(fm_ot="fm-vp")),
        ),
    ),
    "cpflow-ot": Claim(
        "cpflow.md#cpflow-ot-the-maximum-likelihood-cp-flow-is-the-optimal-transport-map",
        cpflow_ot,
        (
            untrained("steps"),
            Control("CP-Flow's numbers replaced by zuko MAF's", transform=swap(cpflow="maf")),
        ),
    ),
    "cpflow-2d": Claim(
        "cpflow.md#cpflow-2d-density-estimation-on-2d-toys",
        cpflow_2d,
        (untrained("steps"),),
    ),
    "cpflow-tabular": Claim(
        "cpflow.md#cpflow-tabular-real-tabular-data",
        cpflow_tabular,
        (
            untrained("steps"),
            Control("CP-Flow's numbers replaced by zuko NSF's", transform=swap(cpflow="nsf")),
            Control("CP-Flow's numbers replaced by zuko MAF's", transform=swap(cpflow="maf")),
        ),
    ),
    "cpflow-vae": Claim(
        "cpflow.md#cpflow-vae-cp-flow-as-a-variational-posterior",
        cpflow_vae,
        (
            untrained("steps"),
            Control(
                "CP-Flow's numbers replaced by the Gaussian's", transform=swap(cpflow="gaussian")
            ),
        ),
    ),
    "ncl-euler": Claim(
        "ncl.md#verdict-the-issues-claims-reproduce-on-means-equal-compute-per-seed-and-non-gaussian-caveats",
        ncl_euler,
        # (training cut to one step breaks nothing here: the constraints are exact at any
        # weights, and at one step the NCL net's Taylor-Green error is already below the PINN's)
        (Control("NCL's numbers replaced by the PINN's", transform=swap(ncl="pinn")),),
    ),
    "ncl-hodge": Claim(
        "ncl.md#verdict-the-issues-claims-reproduce-on-means-equal-compute-per-seed-and-non-gaussian-caveats",
        ncl_hodge,
        (
            untrained("steps"),
            Control(
                "NCL's numbers replaced by the potential net's", transform=swap(ncl="potential")
            ),
            Control(
                "the potential net's numbers replaced by NCL's", transform=swap(potential="ncl")
            ),
        ),
    ),
    "ncl-ot": Claim(
        "ncl.md#verdict-the-issues-claims-reproduce-on-means-equal-compute-per-seed-and-non-gaussian-caveats",
        ncl_ot,
        (untrained("steps"),),
    ),
    "voronoi-discrete2d": Claim(
        "voronoi.md#verdict-discrete-2d-reproduces-in-the-papers-setting-and-the-setting-matters",
        voronoi_discrete2d,
        (
            untrained("steps"),
            Control(
                "Voronoi's numbers replaced by uniform dequantization's",
                transform=swap(voronoi="uniform"),
            ),
        ),
    ),
    "voronoi-mixture": Claim(
        "voronoi.md#verdict-mixture-nll-partly",
        voronoi_mixture,
        (
            untrained("steps", "tabular_steps"),
            Control(
                "Gaussian component tails (the defect the heavy tails fixed)", {"tails": "normal"}
            ),
        ),
    ),
    "voronoi-realdiscrete": Claim(
        "voronoi.md#voronoi-realdiscrete-digits-and-characters",
        voronoi_realdiscrete,
        (untrained("steps"),),
    ),
    "ppd-sphere": Claim(
        "ppd.md#verdict",
        ppd_sphere,
        (
            untrained("ppd_steps"),
            Control("PPD's numbers replaced by maximum likelihood's", transform=swap(ppd="mle")),
        ),
    ),
    "ppd-earth": Claim(
        "ppd.md#verdict",
        ppd_earth,
        (untrained("ppd_steps", "mle_steps"),),
    ),
    "ppd-highdim": Claim(
        "ppd.md#verdict",
        ppd_highdim,
        (
            untrained("ppd_steps"),
            Control("PPD's numbers replaced by flow matching's", transform=swap(ppd="rfm")),
        ),
    ),
    "sdebnn-stl": Claim(
        "sdebnn.md#sdebnn-stl-stl-gradient-variance-on-a-known-posterior",
        sdebnn_stl,
        (
            Control("STL's numbers replaced by the path estimator's", transform=swap(stl="path")),
            Control(
                "the path and full estimators' numbers replaced by STL's",
                transform=swap(path="stl", full="stl"),
            ),
        ),
    ),
    "sdebnn-digits": Claim(
        "sdebnn.md#sdebnn-digits-calibration-against-the-two-baselines",
        sdebnn_digits,
        (untrained("iters"),),
    ),
    "sdebnn-regression": Claim(
        "sdebnn.md#sdebnn-regression-1-d-predictive-bands",
        sdebnn_regression,
        (untrained("iters"),),
    ),
    "steady-state-light": Claim(
        "steady-state.md#steady-state-light-maximise-the-transfer-efficiency-of-a-light-harvesting-v-system",
        steady_state_light,
        ascent_controls(light_gradients_off),
    ),
    "steady-state-heat": Claim(
        "steady-state.md#steady-state-heat-inverse-design-of-a-v-system-heat-transfer-device",
        steady_state_heat,
        ascent_controls(heat_gradients_off),
    ),
    "smac-entropy": Claim(
        "smac.md#smac-entropy-the-k-particle-bound-on-a-latent-gaussian-of-known-entropy",
        smac_entropy,
        (
            Control(
                "every K scored as K = 0: latent SAC's conditional entropy, not the marginal bound",
                transform=conditional_entropy_only,
            ),
        ),
    ),
    "smac-bandit": Claim(
        "smac.md#smac-bandit-mode-coverage",
        smac_bandit,
        (
            untrained("steps"),
            Control("SMAC's numbers replaced by latent SAC's", transform=swap(smac="latent-sac")),
            Control(
                "SAC's and latent SAC's numbers replaced by SMAC's",
                transform=swap(sac="smac", latent_sac="smac"),
            ),
        ),
    ),
    "smac-control": Claim(
        "smac.md#smac-control-pendulum-flickering-pendulum-invertedpendulum",
        smac_control,
        (untrained("steps", start_steps=1),),
    ),
    "gfn-hypergrid": Claim(
        "gfn.md#gfn-hypergrid-tb-vs-db-vs-subtb-exact-l1-to-rz",
        gfn_hypergrid,
        (untrained("iterations"),),
    ),
    "gfn-unify-2d": Claim(
        "gfn.md#gfn-unify-2d-a-diffusion-model-trained-as-a-gflownet-against-ddpm-and-flow-matching",
        gfn_unify_2d,
        (
            untrained("steps"),
            Control("MLE-GFN's numbers replaced by DDPM's", transform=swap(mle_gfn="ddpm")),
            Control(
                "flow matching's NLL replaced by MLE-GFN's bound",
                transform=lambda m: {
                    **m,
                    "fm-ot/checkerboard/test_nll": m["mle-gfn/checkerboard/neg_iwae"],
                },
            ),
        ),
    ),
    "compress-rd": Claim(
        "compression.md#verdict",
        compress_rd,
        (
            untrained("ae_steps", "keep_steps", "prior_steps"),
            Control(
                "bitstream broken: one latent misread, payload 2% over the model rate",
                patch=bitstream_off,
            ),
            Control(
                "adaptive knots replaced by uniform knots (BD-rate 0 against themselves)",
                transform=lambda m: {**m, "knots/bouncing-balls/bd_rate_vs_knots-uniform": 0.0},
            ),
            Control(
                "refinement off: the refined codec's numbers replaced by the keep network's",
                transform=swap(learned_refined="learned"),
            ),
        ),
    ),
    "compress-mocap": Claim(
        "compression.md#compress-mocap-one-codec-of-joint-paths-on-an-unseen-skeleton",
        compress_mocap,
        (untrained("ae_steps", "keep_steps", "prior_steps"),),
    ),
    "compress-framerate": Claim(
        "compression.md#verdict",
        compress_framerate,
        (
            untrained("ae_steps", "keep_steps", "prior_steps"),
            Control(
                "no decoding between coded times: the last coded frame held",
                patch=hold_between_frames,
            ),
        ),
    ),
}


# ---------------------------------------------------------------------------------------------
# the tests

CLAIMS_LOG = os.environ.get("CTFLOW_CLAIMS_LOG")  # a JSON-lines file for docs/results/claims.md


def evaluate(
    name: str, tmp_path: Path, control: Control | None = None, cache: dict | None = None
) -> Claims:
    """Run ``name`` at quick size (seed 0), broken by ``control`` if given, and check its claims.

    ``cache`` shares runs between controls that differ only in their metrics transform.
    """
    broken = dict(control.overrides) if control else {}
    cache = {} if cache is None else cache

    def run(extra: dict) -> dict[str, float]:
        overrides = {**broken, **extra}
        key = json.dumps(overrides, sort_keys=True)
        if key not in cache:
            out = tmp_path / f"run{len(cache)}"
            _, results = run_experiment(
                name, size="quick", out=out, progress=False, overrides=overrides
            )
            cache[key] = results.metrics
        metrics = cache[key]
        if control and control.transform:
            metrics = control.transform(metrics)
        return RunMetrics(metrics)

    with pytest.MonkeyPatch.context() as monkeypatch:
        if control and control.patch:
            control.patch(monkeypatch)
        claims = Claims(run({}), rerun=run)
        CLAIMS[name].check(claims)
    return claims


def _log(name: str, control: Control | None, claims: Claims) -> None:
    if CLAIMS_LOG:
        row = {
            "experiment": name,
            "section": CLAIMS[name].section,
            "control": control.what if control else None,
            "claims": [o.__dict__ for o in claims.outcomes],
        }
        with open(CLAIMS_LOG, "a") as f:
            f.write(json.dumps(row) + "\n")


def test_every_registered_experiment_has_claims_and_a_negative_control():
    missing = sorted(set(experiment_names()) - set(CLAIMS))
    assert not missing, f"registered experiments with no claim in tests/test_claims.py: {missing}"
    stale = sorted(set(CLAIMS) - set(experiment_names()))
    assert not stale, f"claims for experiments that are not registered: {stale}"
    for name, claim in CLAIMS.items():
        assert claim.controls, f"{name} has no negative control"
        page = Path(__file__).parents[1] / "docs" / "results" / claim.section.split("#")[0]
        assert page.exists(), f"{name}: {page} does not exist"


@pytest.mark.claims
@pytest.mark.parametrize("name", experiment_names())
def test_claim(name, tmp_path, record_property):
    assert name in CLAIMS, f"{name} is registered but has no claim in tests/test_claims.py"
    claims = evaluate(name, tmp_path)
    record_property("claims_asserted", len(claims.outcomes))
    _log(name, None, claims)
    assert claims.outcomes, f"{name}: the check asserted no claim"
    assert not claims.m.missing, (
        f"{name}: claims read metrics the run did not write: {claims.m.missing}"
    )
    assert not claims.failed, (
        f"{name}: claims of docs/results/{CLAIMS[name].section} fail at quick size:\n"
        + claims.report()
    )


@pytest.mark.slow
@pytest.mark.negative
@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_negative_controls_break_the_claims(name, tmp_path):
    """Each control breaks a claim, and every claim but the validity checks (true of any
    weights) fails under some control."""
    cache: dict = {}
    survived, broken, validity = [], set(), set()
    for control in CLAIMS[name].controls:
        claims = evaluate(name, tmp_path, control, cache)
        _log(name, control, claims)
        broken |= {o.label for o in claims.failed}
        validity |= {o.label for o in claims.outcomes if o.validity}
        if not claims.failed:
            survived.append(f"'{control.what}':\n{claims.report()}")
    assert not survived, f"{name}: every claim survives " + "\n".join(survived)
    labels = {o.label for o in claims.outcomes}
    unbroken = sorted(labels - broken - validity)
    assert not unbroken, f"{name}: no negative control breaks {unbroken}"
