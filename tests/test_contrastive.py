"""The contrastive candidate (pssc_fast.contrastive): its loss against a float64 reference, the views, the
training's seeding, and how PSSC takes it in."""
import copy

import numpy as np
import pytest
import torch

import pssc_fast.contrastive as contrastive
from pssc_fast import LargePSSC, PSSC
from pssc_fast.contrastive import augment, confident_groups, contrastive_features, neighbour_groups, nt_xent, supcon
from pssc_fast.params import PSSC_DEFAULTS


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _nt_xent_reference(z: np.ndarray, temperature: float) -> float:
    """SimCLR's loss written out with loops in float64."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    m = z.shape[0]
    b = m // 2
    total = 0.0
    for i in range(m):
        j = (i + b) % m
        logits = np.array([z[i] @ z[k] / temperature for k in range(m) if k != i])
        others = [k for k in range(m) if k != i]
        total += -(z[i] @ z[j] / temperature) + np.log(np.sum(np.exp(logits)))
        assert j in others
    return total / m


@pytest.mark.parametrize("b,d,temperature", [(5, 7, 0.5), (3, 2, 0.1), (9, 33, 1.0)])
def test_nt_xent_matches_a_float64_reference(b, d, temperature):
    z = torch.randn(2 * b, d, generator=torch.Generator().manual_seed(b), dtype=torch.float64)
    got = float(nt_xent(z, temperature))
    assert got == pytest.approx(_nt_xent_reference(z.numpy(), temperature), rel=1e-12)


def _supcon_reference(z: np.ndarray, groups: np.ndarray, temperature: float) -> float:
    """The supervised contrastive loss written out with loops in float64: rows i and i + b are views of image i."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    m = z.shape[0]
    g = np.concatenate([groups, groups])
    total = 0.0
    for i in range(m):
        others = [k for k in range(m) if k != i]
        log_norm = np.log(np.sum([np.exp(z[i] @ z[k] / temperature) for k in others]))
        positives = [k for k in others if g[k] == g[i]]
        total += np.mean([log_norm - z[i] @ z[p] / temperature for p in positives])
    return total / m


@pytest.mark.parametrize("b,d,temperature", [(5, 7, 0.5), (6, 3, 0.1), (9, 33, 1.0)])
def test_supcon_matches_a_float64_reference_and_is_nt_xent_without_shared_groups(b, d, temperature):
    gen = torch.Generator().manual_seed(b)
    z = torch.randn(2 * b, d, generator=gen, dtype=torch.float64)
    groups = torch.tensor([0, 1, 0, -4, 1, 2, 2, -8, 0][:b])  # shared groups and images alone in theirs
    got = float(supcon(z, groups, temperature))
    assert got == pytest.approx(_supcon_reference(z.numpy(), groups.numpy(), temperature), rel=1e-12)
    alone = -1 - torch.arange(b)
    assert float(supcon(z, alone, temperature)) == pytest.approx(float(nt_xent(z, temperature)), rel=1e-12)


def test_confident_groups_keep_the_share_of_each_cluster_closest_to_its_mean():
    # cluster 0: four directions around the x axis, cluster 1: three around the y axis (features not unit length)
    angles = np.array([0.0, 0.3, -0.05, -0.6, np.pi / 2 + 0.02, np.pi / 2 - 0.5, np.pi / 2 + 0.1])
    scales = np.array([1.0, 2.0, 0.5, 3.0, 1.0, 4.0, 0.2])
    features = torch.from_numpy(np.stack([np.cos(angles), np.sin(angles)], 1) * scales[:, None])
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    groups = confident_groups(features, labels, keep=0.5)
    # mean directions: cluster 0 about -0.09 rad, cluster 1 about pi/2 - 0.13; two of each kept
    assert groups.tolist()[:4] == [0, -2, 0, -4] and groups.tolist()[4:] == [1, -6, 1]
    assert confident_groups(features, labels, keep=1.0).tolist() == labels.tolist()
    assert (confident_groups(features, labels, keep=0.0) >= 0).sum() == 2  # at least one per cluster


def _neighbour_groups_reference(features: np.ndarray) -> np.ndarray:
    """Each row joined to its nearest other row by cosine (float64, a full matrix), groups by union-find,
    numbered in order of each group's first row."""
    H = features / np.linalg.norm(features, axis=1, keepdims=True)
    S = H @ H.T
    np.fill_diagonal(S, -np.inf)
    parent = list(range(len(H)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in enumerate(S.argmax(1)):
        parent[root(i)] = root(int(j))
    roots = [root(i) for i in range(len(H))]
    first = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([first[r] for r in roots])


@pytest.mark.parametrize("n,d,chunk", [(37, 5, 8), (50, 3, 2048), (2, 4, 1)])
def test_neighbour_groups_match_a_float64_reference(n, d, chunk):
    features = torch.randn(n, d, generator=torch.Generator().manual_seed(n)) * torch.rand(n, 1) * 3  # not unit rows
    groups = neighbour_groups(features.float(), chunk=chunk).numpy()
    expected = _neighbour_groups_reference(features.double().numpy())
    # the same partition (component ids may be numbered differently)
    assert len(set(zip(groups, expected))) == len(set(groups)) == len(set(expected))
    assert 1 <= len(set(groups)) <= n // 2  # every row has a partner, so no group is a single row
    assert neighbour_groups(features[:1]).tolist() == [0]


def test_neighbour_groups_keep_apart_what_is_nearer_itself():
    # two tight bundles of directions far apart: every nearest neighbour is in the own bundle
    angles = np.concatenate([np.linspace(0.0, 0.2, 6), np.linspace(2.0, 2.3, 5)])
    features = torch.from_numpy(np.stack([np.cos(angles), np.sin(angles)], 1))
    groups = neighbour_groups(features).numpy()
    assert set(groups[:6]).isdisjoint(groups[6:])


@pytest.mark.parametrize("neighbours", [True, False])
def test_refinement_adds_nearest_neighbour_positives(monkeypatch, neighbours):
    images, y = _bars()
    model = contrastive.train_encoder(images, steps=2, seed=0)
    raw = contrastive._raw_features(model, images)
    batches, groups_seen = [], []
    real_supcon, real_train = contrastive.supcon, contrastive._train_on_views

    def supcon_spy(z, groups, temperature):
        groups_seen.append(groups.clone())
        return real_supcon(z, groups, temperature)

    def train_spy(model, images, steps, generator, batch_size, lr, loss_of, *a, **k):
        def recorded(z, batch):
            batches.append(batch.clone())
            return loss_of(z, batch)
        return real_train(model, images, steps, generator, batch_size, lr, recorded, *a, **k)

    monkeypatch.setattr(contrastive, "supcon", supcon_spy)
    monkeypatch.setattr(contrastive, "_train_on_views", train_spy)
    contrastive.refine_encoder(model, images, y, steps=2, seed=0, neighbours=neighbours)
    confident = confident_groups(raw, y, contrastive.PSEUDO_KEEP)
    near = neighbour_groups(raw)
    assert len(batches) == 2 and len(groups_seen) == (4 if neighbours else 2)  # per step: one loss, or both
    per_step = 2 if neighbours else 1
    for step, batch in enumerate(batches):
        torch.testing.assert_close(groups_seen[per_step * step], confident[batch], rtol=0, atol=0)
        if neighbours:  # the second loss: each image's nearest-neighbour component
            torch.testing.assert_close(groups_seen[per_step * step + 1], near[batch], rtol=0, atol=0)


@pytest.mark.parametrize("steps,neighbours", [(5, True), (4, True), (4, False)])
def test_plain_steps_add_nearest_neighbour_positives_from_half_way(monkeypatch, steps, neighbours):
    images, _ = _bars()
    switch = round(contrastive.NEIGHBOUR_START * steps)
    groups_seen, found, at_switch, modes = [], [], {}, []
    real_supcon, real_groups = contrastive.supcon, contrastive.neighbour_groups

    def supcon_spy(z, groups, temperature):
        groups_seen.append(groups.clone())
        return real_supcon(z, groups, temperature)

    def groups_spy(features, *a, **k):
        found.append((features.clone(), real_groups(features, *a, **k)))
        return found[-1][1]

    def on_step(step, model):
        modes.append(model.training)
        if step == switch:  # the weights the groups were computed from
            at_switch["raw"] = contrastive._raw_features(copy.deepcopy(model), images)

    monkeypatch.setattr(contrastive, "supcon", supcon_spy)
    monkeypatch.setattr(contrastive, "neighbour_groups", groups_spy)
    contrastive.train_encoder(images, steps=steps, seed=0, batch_size=16, neighbours=neighbours, on_step=on_step)
    assert modes == [True] * steps  # computing the groups leaves the model training
    if not neighbours:
        assert not found and not groups_seen
        return
    assert len(found) == 1 and len(groups_seen) == steps - switch  # once; a SupCon term in every later step
    features, near = found[0]
    torch.testing.assert_close(features, at_switch["raw"], rtol=1e-5, atol=1e-6)
    # each later step's groups are the batch's rows of those groups
    assert all(len(g) == 16 and set(g.tolist()) <= set(near.tolist()) for g in groups_seen)


@pytest.mark.parametrize("estimator", ["PSSC", "LargePSSC"])
def test_the_estimators_pass_contrastive_neighbours_to_both_stages(monkeypatch, estimator):
    images, _ = _bars(n_per_class=12)
    seen, plain_seen = [], []
    real, real_plain = contrastive.refine_encoder, contrastive.train_encoder

    def spy(*a, **k):
        seen.append(k["neighbours"])
        return real(*a, **k)

    def plain_spy(*a, **k):
        plain_seen.append(k["neighbours"])
        return real_plain(*a, **k)

    monkeypatch.setattr(contrastive, "refine_encoder", spy)
    monkeypatch.setattr(contrastive, "train_encoder", plain_spy)
    params = dict(contrastive_steps=4, epochs=2, random_state=0)
    params.update(dict(pretrain_epochs=2) if estimator == "PSSC" else dict(anchors=20, pretrain_samples=200))
    cls = {"PSSC": PSSC, "LargePSSC": LargePSSC}[estimator]
    cls(2, **params).fit(images[:, 0].numpy())
    cls(2, contrastive_neighbours=False, **params).fit(images[:, 0].numpy())
    assert PSSC_DEFAULTS["contrastive_neighbours"] is True and seen == plain_seen == [True, False]


def test_pseudo_supervision_trains_on_from_the_features_partition():
    images, y = _bars()
    partitions = []

    def partition(features):
        partitions.append(features.copy())
        return y

    plain = contrastive_features(images, steps=4, seed=0)
    refined = contrastive_features(images, steps=4, seed=0, pseudo_steps=3, partition=partition)
    again = contrastive_features(images, steps=4, seed=0, pseudo_steps=3, partition=partition)
    np.testing.assert_array_equal(partitions[0], plain)  # the partition sees the trained encoder's features
    np.testing.assert_array_equal(refined, again)  # seeded
    assert not np.allclose(refined, plain)
    np.testing.assert_allclose(np.linalg.norm(refined, axis=1), 1.0, rtol=1e-12)
    assert len(partitions) == 2


def test_views_are_seeded_and_the_identity_without_perturbation(monkeypatch):
    x = torch.rand(6, 2, 13, 11, generator=torch.Generator().manual_seed(0))
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.allclose(a, c)
    for name in ("MAX_ROTATION", "MAX_SCALE", "MAX_SHIFT", "MAX_BRIGHTNESS", "NOISE_STD"):
        monkeypatch.setattr(contrastive, name, 0.0)
    # the identity affine map resamples each pixel at its own centre (odd sizes, several channels)
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(1)), x, rtol=0, atol=1e-6)


def _bars(n_per_class=24, side=12):
    """Images of horizontal and of vertical bars at random positions, in [0, 1]."""
    rng = np.random.default_rng(0)
    images = np.zeros((2 * n_per_class, 1, side, side), dtype=np.float32)
    for i in range(2 * n_per_class):
        pos = rng.integers(2, side - 2)
        if i < n_per_class:
            images[i, 0, pos, :] = 1.0
        else:
            images[i, 0, :, pos] = 1.0
    return torch.from_numpy(images), np.repeat([0, 1], n_per_class)


def test_features_are_unit_rows_seeded_and_leave_the_global_generator_alone(monkeypatch):
    images, _ = _bars()
    losses = []
    real = contrastive.nt_xent

    def recording(z, temperature):
        loss = real(z, temperature)
        losses.append(float(loss))
        return loss

    monkeypatch.setattr(contrastive, "nt_xent", recording)
    torch.manual_seed(123)
    first = contrastive_features(images, steps=40, seed=3, batch_size=16)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # the caller's random state is untouched
    assert first.shape == (48, 128) and first.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(contrastive_features(images, steps=40, seed=3, batch_size=16), first)
    assert not np.allclose(contrastive_features(images, steps=40, seed=4, batch_size=16), first)
    assert len(losses) == 3 * 40  # three runs of 40 steps, the 48 images in batches of 16
    assert np.mean(losses[32:40]) < np.mean(losses[:8])  # the first run's loss went down


def test_on_step_sees_every_step_in_train_mode_and_leaves_training_unchanged():
    images, _ = _bars()
    seen = []

    def probe(step, model):
        seen.append((step, model.training))
        contrastive.encode(model, images[:4])  # an evaluation inside the loop, as a diagnostic would make
        model.train()

    probed = contrastive.train_encoder(images, steps=7, seed=2, batch_size=16, on_step=probe)
    plain = contrastive.train_encoder(images, steps=7, seed=2, batch_size=16)
    assert seen == [(step, True) for step in range(1, 8)]
    assert not probed.training
    np.testing.assert_array_equal(contrastive.encode(probed, images).numpy(), contrastive.encode(plain, images).numpy())


def test_verbose_shows_each_stage_and_changes_nothing(capsys):
    images, _ = _bars()
    quiet = contrastive_features(images, steps=5, seed=3, batch_size=16, pseudo_steps=3,
                                 partition=lambda H: np.arange(len(H)) % 2)
    assert "contrastive" not in capsys.readouterr().err
    shown = contrastive_features(images, steps=5, seed=3, batch_size=16, pseudo_steps=3,
                                 partition=lambda H: np.arange(len(H)) % 2, verbose=True)
    err = capsys.readouterr().err
    assert "contrastive:" in err and "/5 [" in err and "contrastive, pseudo-supervised:" in err and "/3 [" in err
    np.testing.assert_array_equal(shown, quiet)


def test_max_epochs_caps_the_steps_at_whole_passes():
    images, _ = _bars()  # 48 images: 3 steps of 16 a pass, one step a pass when the batch is larger than n
    assert contrastive.planned_steps(48, 100, 2, 16) == 6
    assert contrastive.planned_steps(48, 5, 2, 16) == 5
    assert contrastive.planned_steps(48, 100, None, 16) == 100
    assert contrastive.planned_steps(48, 100, 7, 256) == 7
    assert contrastive.planned_steps(50, 100, 2, 16) == 6  # the last partial batch of a pass waits
    steps = []
    capped = contrastive.train_encoder(images, steps=100, max_epochs=2, seed=3, batch_size=16,
                                       on_step=lambda step, model: steps.append(step))
    assert steps == list(range(1, 7))
    exact = contrastive.train_encoder(images, steps=6, seed=3, batch_size=16)
    np.testing.assert_array_equal(contrastive.encode(capped, images).numpy(), contrastive.encode(exact, images).numpy())


def _spy_on_training(monkeypatch) -> dict:
    """A dict that collects the keyword arguments of every contrastive.train_encoder call from now on."""
    seen = {}
    real = contrastive.train_encoder

    def spy(images, **kwargs):
        seen.update(kwargs)
        return real(images, **kwargs)

    monkeypatch.setattr(contrastive, "train_encoder", spy)
    return seen


def test_pssc_caps_the_contrastive_steps_at_its_max_epochs(monkeypatch):
    images, _ = _bars()
    seen = _spy_on_training(monkeypatch)
    PSSC(2, contrastive_steps=50, contrastive_max_epochs=3, pretrain_epochs=2, epochs=2,
         random_state=0).fit(images[:, 0].numpy())
    assert seen["steps"] == 50 and seen["max_epochs"] == 3
    with pytest.raises(ValueError, match="contrastive_max_epochs"):
        PSSC(2, contrastive_max_epochs=0).fit(images[:, 0].numpy())


def test_auto_budget_follows_the_device_and_explicit_values_win(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # resolution only: no CUDA needed
    assert contrastive.default_budget(cpu) == contrastive.DEFAULT_BUDGET["cpu"]
    assert contrastive.default_budget("cuda:0") == contrastive.DEFAULT_BUDGET["cuda"]
    for estimator in (PSSC(2), LargePSSC(2)):
        assert estimator._contrastive_budget(cpu) == contrastive.DEFAULT_BUDGET["cpu"]
        assert estimator._contrastive_budget(cuda) == contrastive.DEFAULT_BUDGET["cuda"]
        estimator.set_params(contrastive_steps=7)
        assert estimator._contrastive_budget(cuda) == (7, contrastive.DEFAULT_BUDGET["cuda"][1])
        estimator.set_params(contrastive_max_epochs=None)
        assert estimator._contrastive_budget(cpu) == (7, None)  # None: no cap
    # a fit on the CPU runs the CPU's budget under "auto" and says how many steps it ran
    monkeypatch.setitem(contrastive.DEFAULT_BUDGET, "cpu", (50, 3))
    images, _ = _bars()
    seen = _spy_on_training(monkeypatch)
    model = PSSC(2, pretrain_epochs=2, epochs=2, random_state=0).fit(images[:, 0].numpy())
    assert (seen["steps"], seen["max_epochs"]) == (50, 3)
    assert model.contrastive_steps_ == contrastive.planned_steps(len(images), 50, 3) < 50
    assert PSSC(2, contrastive_steps=0, pretrain_epochs=2, epochs=2).fit(images[:, 0].numpy()).contrastive_steps_ == 0
    with pytest.raises(TypeError, match="contrastive_steps"):
        PSSC(2, contrastive_steps="many").fit(images[:, 0].numpy())


def test_pssc_takes_the_contrastive_candidate_for_images_only(monkeypatch):
    # (vectors: no candidate; images: a third one, the network's and the input's unchanged)
    images, y = _bars()
    params = dict(pretrain_epochs=3, epochs=3, random_state=0)
    plain = PSSC(2, contrastive_steps=0, **params).fit(images[:, 0].numpy())
    with_c = PSSC(2, contrastive_steps=10, **params).fit(images[:, 0].numpy())
    assert set(plain.candidate_labels_) == {"network", "input"}
    assert set(with_c.candidate_labels_) == set(with_c.normalized_cuts_) == {"network", "input", "contrastive"}
    cuts = with_c.normalized_cuts_
    lowest = min(cuts, key=cuts.get)
    within = cuts["contrastive"] <= (1 + PSSC_DEFAULTS["contrastive_tolerance"]) * cuts[lowest]
    kept = "contrastive" if within else lowest
    assert with_c.chosen_ == kept
    by_cut = PSSC(2, contrastive_steps=10, contrastive_tolerance=0.0, **params).fit(images[:, 0].numpy())
    assert by_cut.normalized_cuts_ == cuts and cuts[by_cut.chosen_] == cuts[lowest]  # 0: the lowest cut wins
    np.testing.assert_array_equal(with_c.candidate_labels_["network"], plain.candidate_labels_["network"])
    assert "contrastive" in with_c.timings_ and "contrastive" not in plain.timings_
    # pseudo-supervision: on by default (half the contrastive steps again, none without the candidate); 0 is off
    assert PSSC_DEFAULTS["contrastive_pseudo"] == 0.5
    assert with_c.contrastive_pseudo_steps_ == 5 and plain.contrastive_pseudo_steps_ == 0
    refined = []
    real_refine = contrastive.refine_encoder
    monkeypatch.setattr(contrastive, "refine_encoder",
                        lambda *a, **kw: refined.append(kw["steps"]) or real_refine(*a, **kw))
    again = PSSC(2, contrastive_steps=10, **params).fit(images[:, 0].numpy())
    off = PSSC(2, contrastive_steps=10, contrastive_pseudo=0.0, **params).fit(images[:, 0].numpy())
    assert refined == [5] and again.normalized_cuts_ == cuts  # only the default fit refined, as before
    assert off.contrastive_pseudo_steps_ == 0 and off.contrastive_steps_ == 10
    assert set(off.candidate_labels_) == {"network", "input", "contrastive"}
    flat = images.reshape(len(images), -1).numpy()
    rows = PSSC(2, contrastive_steps=10, image_shape=None, **params).fit(flat)
    assert set(rows.candidate_labels_) == {"network", "input"}  # vectors: its views are image operations
    assert rows.image_shape_ is None and with_c.image_shape_ == (1, 12, 12)
    recognised = PSSC(2, contrastive_steps=10, **params).fit(flat)  # rows of pixels, read as images by "auto"
    assert recognised.image_shape_ == (1, 12, 12) and recognised.normalized_cuts_ == cuts
    assert PSSC().contrastive_steps == "auto" and min(b[0] for b in contrastive.DEFAULT_BUDGET.values()) > 0
    with pytest.raises(ValueError, match="contrastive_steps"):
        PSSC(2, contrastive_steps=-1, **params).fit(images[:, 0].numpy())


@pytest.mark.parametrize("cuts, agreement, consensus_of", [
    ({"network": 1.2, "input": 2.0, "contrastive": 1.0}, 0.8, ["contrastive", "network"]),  # close and agreeing: joins
    ({"network": 1.2, "input": 2.0, "contrastive": 1.0}, 0.7, ["contrastive"]),  # 0.7 < 0.75: disagrees, alone
    ({"network": 1.9, "input": 2.5, "contrastive": 1.0}, 0.9, ["contrastive", "network"]),  # 1.9 <= 2: joins
    ({"network": 2.1, "input": 2.5, "contrastive": 1.0}, 0.9, ["contrastive"]),  # 2.1 > 2: the contrastive's alone
    ({"network": 1.0, "input": 0.9, "contrastive": 1.3}, 0.9, ["input"]),  # the input kept: it is labelled alone
])
def test_the_networks_partitions_join_a_close_agreeing_contrastive_candidates_consensus(monkeypatch, cuts, agreement,
                                                                                        consensus_of):
    from pssc_fast import affinity, core

    kept = {}
    real = affinity.cluster_best_of

    def with_cuts(candidates, *a, **kw):  # the real partitions with these cuts, chosen by the library's rule
        kept.update(candidates)
        _, results = real(candidates, *a, **kw)
        results = {name: (r[0], r[1], cuts[name]) for name, r in results.items()}
        chosen = min(results, key=lambda name: results[name][2])
        if results["contrastive"][2] <= (1 + kw["tolerance"]) * results[chosen][2]:
            chosen = "contrastive"
        return chosen, results

    joined = []
    real_consensus = affinity.consensus_labels

    def spy(C, *a, **kw):  # which Cs the fit's consensus joined
        joined.append([id(Cj) for Cj, _ in kw.get("joined", ())])
        return real_consensus(C, *a, **kw)

    compared = []

    def ami(a, b):  # the agreement of the two partitions compared, as given
        compared.append((np.asarray(a), np.asarray(b)))
        return agreement

    monkeypatch.setattr(affinity, "cluster_best_of", with_cuts)
    monkeypatch.setattr(affinity, "consensus_labels", spy)
    monkeypatch.setattr(core, "adjusted_mutual_info_score", ami)
    images, _ = _bars()
    model = PSSC(2, contrastive_steps=10, pretrain_epochs=3, epochs=3, random_state=0).fit(images[:, 0].numpy())
    assert (PSSC_DEFAULTS["contrastive_tolerance"], PSSC_DEFAULTS["join_agreement"], PSSC_DEFAULTS["join_tolerance"]) \
        == (0.25, 0.75, 2.0)
    assert model.consensus_of_ == consensus_of
    for a, b in compared:  # only ever the contrastive and the network partitions at ro
        np.testing.assert_array_equal(a, model.candidate_labels_["contrastive"])
        np.testing.assert_array_equal(b, model.candidate_labels_["network"])
    assert len(compared) == (cuts["network"] <= 2.0 * cuts["contrastive"] and model.chosen_ == "contrastive")
    # the joined candidates' C, then (when any joined) the graph they all vote in
    assert len(joined) == 1 and joined[0][:len(consensus_of) - 1] == [id(kept[n]) for n in consensus_of[1:]]
    assert len(joined[0]) == (0 if len(consensus_of) == 1 else len(consensus_of))
    labels = model.candidate_labels_
    post = dict(q=model.q, alpha=model.alpha, ro=model.ro, diag_shift=model.diag_shift, method=model.affinity_method,
                random_state=0)
    pairs = [(kept[n], labels[n]) for n in consensus_of[1:]]
    if pairs:
        pairs.append((affinity.summed_coefficients(*(kept[n] for n in consensus_of)), None))
    expected = affinity.consensus_labels(kept[consensus_of[0]], 2, given=labels[consensus_of[0]], joined=pairs, **post)
    np.testing.assert_array_equal(model.labels_, expected)
    off = PSSC(2, contrastive_steps=10, pretrain_epochs=3, epochs=3, random_state=0, ro_consensus=False)
    assert off.fit(images[:, 0].numpy()).consensus_of_ == []


def test_large_images_are_shrunk_before_training(monkeypatch):
    seen = []
    real = contrastive.augment

    def recording(x, generator=None):
        seen.append(tuple(x.shape[-2:]))
        return real(x, generator)

    monkeypatch.setattr(contrastive, "augment", recording)
    images = torch.rand(6, 3, 150, 101, generator=torch.Generator().manual_seed(0))
    features = contrastive_features(images, steps=2, seed=0)
    assert features.shape == (6, 128)
    assert set(seen) == {(64, 43)}  # longer side MAX_SIDE, aspect kept (101 * 64 / 150 = 43.1)
    seen.clear()
    contrastive_features(images[..., :40, :31], steps=1, seed=0)
    assert set(seen) == {(40, 31)}  # small images as they are


def _keep(name):
    """A stand-in for affinity.cluster_best_of that keeps candidate ``name`` whatever the cuts say."""
    from pssc_fast import affinity

    real = affinity.cluster_best_of

    def keeping(candidates, n_clusters, **kwargs):
        _, results = real(candidates, n_clusters, **kwargs)
        return name, results

    return keeping


def test_fit_large_takes_the_contrastive_candidate_for_image_rows(monkeypatch):
    # (rows with image_shape and image-shaped X fit alike; vectors get no candidate; when the candidate is kept,
    # rows are assigned in its feature space, by fit, predict and a pickled copy alike)
    import pickle

    from pssc_fast import core
    from pssc_fast.large import LargePSSC

    images, _ = _bars(n_per_class=30)
    rows = images.reshape(len(images), -1).numpy()
    params = dict(anchors=40, pretrain_samples=2000, epochs=3, contrastive_steps=10, random_state=0)
    monkeypatch.setattr(core.affinity, "cluster_best_of", _keep("contrastive"))
    by_shape = LargePSSC(2, image_shape=(1, 12, 12), **params).fit(rows)
    by_images = LargePSSC(2, **params).fit(images[:, 0].numpy())
    assert by_shape.chosen_ == by_shape.assign_space_ == "contrastive" and by_shape.image_shape_ == (1, 12, 12)
    assert set(by_shape.candidate_labels_) == {"network", "input", "contrastive"}
    assert "contrastive" in by_shape.timings_ and by_shape.contrastive_steps_ == 10
    assert by_shape.contrastive_pseudo_steps_ == 5  # pseudo-supervision on the anchors, by default
    off = LargePSSC(2, image_shape=(1, 12, 12), contrastive_pseudo=0.0, **params).fit(rows)
    assert off.contrastive_pseudo_steps_ == 0 and off.chosen_ == "contrastive"
    np.testing.assert_array_equal(off.predict(rows), off.labels_)
    np.testing.assert_array_equal(by_shape.labels_, by_images.labels_)
    np.testing.assert_array_equal(by_shape.predict(rows), by_shape.labels_)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(by_shape)).predict(rows[:7]), by_shape.labels_[:7])
    # each anchor is its own nearest anchor in the feature space: it keeps its own label
    np.testing.assert_array_equal(by_shape.labels_[by_shape.anchor_indices_], by_shape.anchor_labels_)

    monkeypatch.setattr(core.affinity, "cluster_best_of", _keep("network"))
    vectors = LargePSSC(2, image_shape=None, **params).fit(rows)
    assert LargePSSC(2, **params).fit(rows).image_shape_ == (1, 12, 12)  # rows of pixels, recognised
    assert vectors.image_shape_ is None and vectors.contrastive_encoder_ is None and vectors.contrastive_steps_ == 0
    assert set(vectors.candidate_labels_) == {"network", "input"}
    kept_network = LargePSSC(2, image_shape=(1, 12, 12), **params).fit(rows)
    assert kept_network.assign_space_ == "codes" and kept_network.contrastive_encoder_ is None


@pytest.mark.parametrize("shape,match", [((1, 12, 11), "with 144 values"), ((1, 6, 24), "disagrees")])
def test_fit_large_checks_the_image_shape(shape, match):
    from pssc_fast.large import LargePSSC

    images, _ = _bars(n_per_class=5)
    X = images.reshape(len(images), -1).numpy() if match != "disagrees" else images[:, 0].numpy()
    with pytest.raises(ValueError, match=match):
        LargePSSC(2, anchors=10, image_shape=shape, pretrain_samples=0, epochs=1).fit(X)
