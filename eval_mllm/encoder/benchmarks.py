"""The encoder benchmarks: each loads its data, embeds it through the encoder and scores it.

``BENCHMARKS`` maps a benchmark name to the kind of data it reads (see ``data/discover.py``)
and the function that runs it on a folder holding that data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.context import EvalContext
from openeyes.eval_mllm.encoder.data.attribute_probe import TRAIN_SPLIT, ProbeSplit, load_probe_split
from openeyes.eval_mllm.encoder.data.classification import ClassificationData, load_classification
from openeyes.eval_mllm.encoder.data.images import FileImages, ImageStore
from openeyes.eval_mllm.encoder.data.mmvp_vlm import load_mmvp_vlm
from openeyes.eval_mllm.encoder.data.naturalbench import load_naturalbench_retrieval
from openeyes.eval_mllm.encoder.data.retrieval import RetrievalData, load_retrieval
from openeyes.eval_mllm.encoder.embed import embed_image_patches, logit_scale_value
from openeyes.eval_mllm.encoder.scoring import (
    affinity, attribute_probe, clustering, linear_probe, mmvp_vlm, pair_selection, retrieval, zeroshot,
)
from openeyes.eval_mllm.results import BenchmarkResult


# ---- MMVP-VLM ---------------------------------------------------------------------------

def run_mmvp_vlm(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data = load_mmvp_vlm(path)
    pairs = data.pairs
    images = [p.image1 for p in pairs] + [p.image2 for p in pairs]
    image_emb = ctx.images(f"{path}#mmvp", FileImages(images, path))  # [2P, D]
    texts = [mmvp_vlm.TEXT_PREFIX + s for p in pairs for s in (p.statement1, p.statement2)]
    text_emb = ctx.texts(texts)  # [2P, D]
    n = len(pairs)
    image_pairs = torch.stack([image_emb[:n], image_emb[n:]], dim=1)  # [P, 2, D]
    text_pairs = text_emb.view(n, 2, -1)  # [P, 2, D]
    logits = mmvp_vlm.pair_logits(image_pairs, text_pairs, logit_scale_value(ctx.encoder))  # [P, 2, 2]
    score = mmvp_vlm.score_mmvp_vlm(
        logits, [(p.qid1, p.qid2) for p in pairs], [p.type for p in pairs]
    )
    # how alike the encoder sees a pair's two images (outside the reference's scoring): [P]
    pair_cosine = F.cosine_similarity(image_pairs[:, 0], image_pairs[:, 1], dim=-1).tolist()
    right_probability = [mmvp_vlm.right_image_probability(v) for v in score.verdicts]  # [P]

    def category_mean(category: str, per_pair: list[float]) -> float | None:  # over the category's pairs
        picked = [x for v, x in zip(score.verdicts, per_pair) if v.category == category]
        return sum(picked) / len(picked) if picked else None

    per_category = {}
    for category in mmvp_vlm.CATEGORIES:
        block_types = {v.type for v in score.verdicts if v.category == category}
        block_type = block_types.pop() if len(block_types) == 1 else "mixed"
        per_category[category] = {
            "accuracy": score.per_category[category],
            "type": block_type,
            "type_accuracy": score.per_type.get(block_type),
            "image_pair_cosine": category_mean(category, pair_cosine),
            "right_image_probability": category_mean(category, right_probability),
        }
    predictions = [
        {"qid1": v.qid1, "qid2": v.qid2, "pred1": v.pred1, "pred2": v.pred2, "gt1": v.gt1, "gt2": v.gt2,
         "q1score": v.q1score, "q2score": v.q2score, "category": v.category, "type": v.type, "correct": v.correct,
         "image_pair_cosine": cosine, "right_image_probability": right}
        for v, cosine, right in zip(score.verdicts, pair_cosine, right_probability)
    ]
    return BenchmarkResult(
        benchmark="mmvp_vlm",
        protocol="MMVP-VLM original (tsb0601/MMVP scripts/evaluate_vlm.py): text->image softmax > 0.5, "
                 "categories by row order, 'a photo of ' prefix",
        headline="average",
        metrics={"average": score.average, "pair_accuracy": score.pair_accuracy},
        per_category=per_category,
        predictions=predictions,
        data={"path": str(path), "layout": "MMVP_VLM", "n_pairs": n, "pairs_per_category": score.pairs_per_category},
        options={"logit_scale": logit_scale_value(ctx.encoder)},
    )


# ---- zero-shot classification and clustering ----------------------------------------------

def classification_data_record(data: ClassificationData, path: Path) -> dict:
    return {"path": str(path), "layout": data.layout, "n_images": len(data.labels),
            "n_classes": len(data.classnames) if data.classnames else len(set(data.labels))}


def run_zeroshot(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data = load_classification(path, ctx.options.split)
    if data.classnames is None:
        raise UserError(f"{path}: zero-shot classification needs classnames.txt")
    if data.templates is None:
        raise UserError(f"{path}: zero-shot classification needs zeroshot_classification_templates.txt (or .json)")
    prompts = [zeroshot.prompts_for_class(name, data.templates) for name in data.classnames]
    flat = [p for class_prompts in prompts for p in class_prompts]
    text_emb = ctx.texts(flat)  # [sum T_c, D]
    per_class, start = [], 0
    for class_prompts in prompts:
        per_class.append(text_emb[start:start + len(class_prompts)])
        start += len(class_prompts)
    weights = zeroshot.class_weights(per_class)  # [D, C]
    image_emb = ctx.images(f"{path}#{ctx.options.split}", data.images)  # [N, D]
    logits = zeroshot.zeroshot_logits(image_emb, weights)  # [N, C]
    labels = torch.tensor(data.labels)
    metrics = zeroshot.classification_metrics(logits, labels)
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    names = data.images.names()
    predictions = [
        {"index": i, "image": names[i], "label": int(labels[i]), "label_name": data.classnames[labels[i]],
         "pred": int(top[i, 0]), "pred_name": data.classnames[top[i, 0]], "top5": top[i].tolist()}
        for i in range(len(labels))
    ]
    return BenchmarkResult(
        benchmark="zeroshot",
        protocol="CLIP_benchmark zeroshot_classification: mean of normalised template embeddings, "
                 "logits = 100 * normalize(img) @ W; acc5 undefined below 5 classes",
        headline="acc1",
        metrics=metrics,
        per_category=zeroshot.per_class_recall(logits, labels, data.classnames),
        predictions=predictions,
        data={**classification_data_record(data, path),
              "n_templates": len(data.templates) if isinstance(data.templates, list) else "class-specific"},
        options={"split": ctx.options.split},
    )


def run_clustering(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data = load_classification(path, ctx.options.split)
    image_emb = ctx.images(f"{path}#{ctx.options.split}", data.images)  # [N, D]
    config = clustering.ClusteringConfig(seed=ctx.options.seed, zscore=ctx.options.zscore, pca_dim=ctx.options.pca_dim)
    clusters, metrics = clustering.cluster_and_score(image_emb.numpy(), data.labels, config)
    _, mapping = clustering.hungarian_match(data.labels, clusters)
    names = data.classnames or [str(i) for i in range(max(data.labels) + 1)]
    per_category = {}
    for index, name in enumerate(names):
        members = [i for i, label in enumerate(data.labels) if label == index]
        if members:
            hits = sum(mapping.get(int(clusters[i])) == index for i in members)
            per_category[name] = {"matched_recall": hits / len(members), "n": len(members)}
    image_names = data.images.names()
    predictions = [
        {"index": i, "image": image_names[i], "label": label, "cluster": int(clusters[i]),
         "matched_class": mapping.get(int(clusters[i]))}
        for i, label in enumerate(data.labels)
    ]
    return BenchmarkResult(
        benchmark="clustering",
        protocol="zs-ssl-clustering KMeans(k=#labels, k-means++, n_init=1) on L2-normalised embeddings; "
                 "SCAN metrics (NMI arithmetic, ARI, Hungarian ACC) + AMI",
        headline="acc",
        metrics=metrics,
        per_category=per_category,
        predictions=predictions,
        data=classification_data_record(data, path),
        options={"split": ctx.options.split, "seed": ctx.options.seed, "zscore": ctx.options.zscore,
                 "pca_dim": ctx.options.pca_dim},
    )


def patch_features(ctx: EvalContext, key: str, images: ImageStore, layer: int, flatten: bool = False) -> np.ndarray:
    """The mean patch token [N, W] of vision layer ``layer`` (``flatten``: all of them [N, P * W]), cached by ``key``."""
    cache_key = ("patches", key, layer, flatten)
    if cache_key not in ctx.cache:
        ctx.cache[cache_key] = embed_image_patches(ctx.encoder, images, ctx.options.batch_size, layer, flatten)
    return ctx.cache[cache_key].numpy()


def probe_features(ctx: EvalContext, path: Path, split: str, data: ClassificationData) -> np.ndarray:
    """[N, F] features the probe reads: image embeddings, or the mean patch token of ``probe_layer``."""
    if ctx.options.probe_layer is None:
        return ctx.images(f"{path}#{split}", data.images).numpy()
    return patch_features(ctx, f"{path}#{split}", data.images, ctx.options.probe_layer)


def run_linear_probe(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data = load_classification(path, ctx.options.split)
    features = probe_features(ctx, path, ctx.options.split, data)
    labels = np.asarray(data.labels)
    config = linear_probe.ProbeConfig(c=ctx.options.probe_c, folds=ctx.options.probe_folds, seed=ctx.options.seed)
    if (path / "train").is_dir() and ctx.options.split != "train":
        train = load_classification(path, "train")
        predictions = linear_probe.fit_predict(
            probe_features(ctx, path, "train", train), np.asarray(train.labels), features, config)
        scheme = "train split -> eval split"
    else:
        try:
            predictions = linear_probe.cross_validated_predictions(features, labels, config)
        except ValueError as error:
            raise UserError(f"{path}: {error}") from None
        scheme = f"{config.folds}-fold stratified cross-validation on the eval split"
    names = data.classnames or [str(i) for i in range(int(labels.max()) + 1)]
    metrics = {"acc1": float((predictions == labels).mean()), **linear_probe.word_accuracies(predictions, labels, names)}
    per_category = {name: {"recall": float((predictions[labels == i] == i).mean()), "n": int((labels == i).sum())}
                    for i, name in enumerate(names) if (labels == i).any()}
    image_names = data.images.names()
    return BenchmarkResult(
        benchmark="linear_probe",
        protocol="CLIP linear probe: L2-regularised logistic regression (L-BFGS) on frozen, z-scored features; "
                 + scheme,
        headline="acc1",
        metrics=metrics,
        per_category=per_category,
        predictions=[{"index": i, "image": image_names[i], "label": int(labels[i]), "pred": int(predictions[i])}
                     for i in range(len(labels))],
        data=classification_data_record(data, path),
        options={"split": ctx.options.split, "probe_layer": ctx.options.probe_layer, "probe_c": ctx.options.probe_c,
                 "probe_folds": ctx.options.probe_folds, "seed": ctx.options.seed},
    )


# ---- attribute probe ----------------------------------------------------------------------

def missing_patch_tokens(encoder) -> str | None:
    """Why ``encoder`` gives no patch tokens (no ViT, or a pooled-only engine); None when it does."""
    if not getattr(encoder, "patch_size", 0):
        return "this encoder has no patch tokens (not a ViT)"
    engine = getattr(encoder, "engine", "torch")
    return f"the {engine} engine computes pooled embeddings only" if engine != "torch" else None


def labelled_features(ctx: EvalContext, path: Path, split: str, data: ProbeSplit, kind: str,
                      layer: int) -> attribute_probe.LabelledFeatures:
    """One probe split as features: the pooled embedding [N, D] or the flattened patch tokens [N, P * W]
    (float32 in memory: 64 x 256 values an image for zoo:tiny-clip, 256 x 1024 for a ViT-L/14 at 224 px)."""
    key = f"{path}#attribute_probe/{split}"
    if kind == "pooled":
        features = ctx.images(key, data.images).numpy()
    else:
        features = patch_features(ctx, key, data.images, layer, flatten=True)
    return attribute_probe.LabelledFeatures(features, np.asarray(data.patterns), np.asarray(data.labels))


def run_attribute_probe(ctx: EvalContext, path: Path) -> BenchmarkResult:
    split = ctx.options.split
    if split == TRAIN_SPLIT:
        raise UserError(f"attribute_probe fits its probes on the {TRAIN_SPLIT} split; score another one (--split test)")
    train, test = load_probe_split(path, TRAIN_SPLIT), load_probe_split(path, split)
    missing = missing_patch_tokens(ctx.encoder)
    if missing and ctx.options.probe_layer is not None:
        raise UserError(f"attribute_probe: --probe-layer reads patch tokens, but {missing}")
    layer = -1 if ctx.options.probe_layer is None else ctx.options.probe_layer
    kinds = ["pooled"] if missing else ["pooled", "patches"]
    config = linear_probe.ProbeConfig(c=ctx.options.probe_c, row_space=True)
    scores, predicted = {}, {}
    for kind in kinds:
        fit_on = labelled_features(ctx, path, TRAIN_SPLIT, train, kind, layer)
        try:
            scores[kind], predicted[kind] = attribute_probe.probe_patterns(
                fit_on, labelled_features(ctx, path, split, test, kind, layer), config)
        except ValueError as error:
            raise UserError(f"{path}: {error}") from None
    metrics, per_category = attribute_probe.summarize(scores)
    names = test.images.names()
    features = "pooled image embedding" + (f" only ({missing})" if missing else
                                           f" and the flattened patch tokens of vision layer {layer}")
    return BenchmarkResult(
        benchmark="attribute_probe",
        protocol="per MMVP pattern: L2-regularised logistic regression on frozen, z-scored features (solved to "
                 "convergence by Newton-CG in the training rows' span), "
                 f"{TRAIN_SPLIT} split -> {split} split (other pairs); features: {features}",
        headline="pooled_mean",
        metrics=metrics,
        per_category=per_category,
        predictions=[
            {"index": i, "image": names[i], "pattern": test.patterns[i], "pair": test.pairs[i], "label": test.labels[i],
             **{f"{kind}_pred": str(predicted[kind][i]) for kind in kinds}}
            for i in range(len(names))
        ],
        data={"path": str(path), "layout": "attribute_probe", "n_train": len(train.labels),
              "n_test": len(test.labels), "n_patterns": len(per_category)},
        options={"split": split, "features": kinds, "probe_layer": None if missing else layer,
                 "probe_c": ctx.options.probe_c, **({"patches": f"not run: {missing}"} if missing else {})},
    )


# ---- retrieval and affinity consistency ----------------------------------------------------

def retrieval_data_record(data: RetrievalData, path: Path) -> dict:
    return {"path": str(path), "layout": data.layout, "n_images": len(data.captions),
            "n_texts": sum(len(c) for c in data.captions)}


def retrieval_embeddings(ctx: EvalContext, path: Path) -> tuple[RetrievalData, torch.Tensor, torch.Tensor, list[int]]:
    data = load_retrieval(path, ctx.options.split)
    texts, owners = data.flat_texts()
    image_emb = ctx.images(f"{path}#{ctx.options.split}", data.images)  # [I, D]
    return data, image_emb, ctx.texts(texts), owners


def run_retrieval(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data, image_emb, text_emb, owners = retrieval_embeddings(ctx, path)
    metrics = retrieval.retrieval_metrics(image_emb, text_emb, owners, ctx.options.recall_k)
    scores = retrieval.similarity(text_emb, image_emb)  # [T, I]
    positive = retrieval.positive_pairs(owners, image_emb.shape[0])
    text_ranks = retrieval.rank_of_first_positive(scores, positive)  # [T]
    image_ranks = retrieval.rank_of_first_positive(scores.T, positive.T)  # [I]
    texts, _ = data.flat_texts()
    names = data.images.names()
    predictions = [
        {"direction": "text->image", "text_index": t, "caption": texts[t], "image": names[owners[t]],
         "rank": int(text_ranks[t])} for t in range(len(texts))
    ] + [
        {"direction": "image->text", "image_index": i, "image": names[i], "best_caption_rank": int(image_ranks[i])}
        for i in range(len(names))
    ]
    return BenchmarkResult(
        benchmark="retrieval",
        protocol="CLIP_benchmark zeroshot_retrieval: image_retrieval_recall@k over texts, "
                 "text_retrieval_recall@k (any caption) over images",
        headline=f"image_retrieval_recall@{ctx.options.recall_k[0]}",
        metrics=metrics,
        predictions=predictions,
        data=retrieval_data_record(data, path),
        options={"split": ctx.options.split, "recall_k": list(ctx.options.recall_k)},
    )


def run_affinity(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data, image_emb, text_emb, owners = retrieval_embeddings(ctx, path)
    owner_index = torch.tensor(owners)
    if ctx.options.affinity_caption == "first":
        counts = torch.tensor([len(c) for c in data.captions])
        firsts = torch.cumsum(counts, 0) - counts  # index of each image's first caption
        paired_text = text_emb[firsts]  # [I, D]
    else:
        normalised = torch.nn.functional.normalize(text_emb, dim=-1)
        paired_text = torch.stack([normalised[owner_index == i].mean(0) for i in range(len(data.captions))])
    value, rho, undefined = affinity.affinity_consistency(image_emb, paired_text, exclude_self=ctx.options.exclude_self)
    names = data.images.names()
    return BenchmarkResult(
        benchmark="affinity",
        protocol="SaCo Eq. 4: mean over queries of Pearson(image-image, text-text similarity rows)",
        headline="affinity_consistency",
        metrics={"affinity_consistency": value, "undefined_rows": float(undefined)},
        predictions=[{"index": i, "image": names[i], "rho": float(rho[i])} for i in range(len(names))],
        data=retrieval_data_record(data, path),
        options={"split": ctx.options.split, "exclude_self": ctx.options.exclude_self,
                 "affinity_caption": ctx.options.affinity_caption},
    )


# ---- NaturalBench retrieval ---------------------------------------------------------------

def run_naturalbench_retrieval(ctx: EvalContext, path: Path) -> BenchmarkResult:
    data = load_naturalbench_retrieval(path)
    image_emb = ctx.images(f"{path}#naturalbench", data.images)  # [2G, D]
    text_emb = ctx.texts(data.captions)  # [2G, D]
    groups = len(data.indices)
    images = torch.nn.functional.normalize(image_emb, dim=-1).view(groups, 2, -1)
    texts = torch.nn.functional.normalize(text_emb, dim=-1).view(groups, 2, -1)
    scores = torch.einsum("gcd,gid->gci", texts, images)  # [G, 2 captions, 2 images]
    text_ok, image_ok, group_ok = pair_selection.naturalbench_group_correct(scores)
    return BenchmarkResult(
        benchmark="naturalbench_retrieval",
        protocol="NaturalBench naturalbench_retrieval.py: text, image and group scores",
        headline="group_score",
        metrics=pair_selection.naturalbench_retrieval_scores(scores),
        predictions=[
            {"index": data.indices[g], "scores": scores[g].tolist(), "text_correct": bool(text_ok[g]),
             "image_correct": bool(image_ok[g]), "group_correct": bool(group_ok[g])}
            for g in range(groups)
        ],
        data={"path": str(path), "layout": "NaturalBench-Retrieval", "n_groups": groups},
        options={},
    )


@dataclass(frozen=True)
class Benchmark:
    data_kind: str                                          # key of data.discover.DATA_KINDS
    run: Callable[[EvalContext, Path], BenchmarkResult]


BENCHMARKS: dict[str, Benchmark] = {
    "mmvp_vlm": Benchmark("mmvp_vlm", run_mmvp_vlm),
    "zeroshot": Benchmark("classification", run_zeroshot),
    "retrieval": Benchmark("retrieval", run_retrieval),
    "clustering": Benchmark("classification", run_clustering),
    "linear_probe": Benchmark("classification", run_linear_probe),
    "affinity": Benchmark("retrieval", run_affinity),
    "naturalbench_retrieval": Benchmark("naturalbench_retrieval", run_naturalbench_retrieval),
    "attribute_probe": Benchmark("attribute_probe", run_attribute_probe),
}
