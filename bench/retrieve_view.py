"""``bench retrieve``: the K frames of other videos nearest to one frame, as one PNG.

The run's encoder embeds the query video A and every other video of A's action in A's split
(train or val); the K nearest frames by squared Euclidean distance over all those frames (ties
by video order, then frame) are shown beside the query with their video, frame, phase and
distance, framed green where their phase is the query's and red where it is not (the
fine-grained retrieval behind AP@K, docs/PROTOCOL.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

from bench.align_view import embed, load_video, phase_name
from bench.errors import ConfigError
from bench.figures import plt, save_figure
from bench.reevaluate import TrainedRun, open_trained_run
from bench.store import Video


@dataclass(frozen=True)
class Neighbour:
    video_id: str
    frame: int
    phase: str
    distance: float
    same_phase: bool


def candidate_ids(trained: TrainedRun, query: Video) -> list[str]:
    """The other videos of the query's action in the query's split (every split if it is in none)."""
    store = trained.store
    splits = [store.split(name) for name in ("val", "train") if query.video_id in store.split(name)]
    pool = splits[0] if splits else sorted(store.manifest["videos"])
    return [v for v in pool if v != query.video_id and store.action_of(v) == query.action]


def nearest_frames(query: np.ndarray, candidates: list[tuple[str, np.ndarray]], k: int) -> list[tuple[str, int, float]]:
    """The k (video id, frame, squared distance) nearest to ``query`` over every candidate frame."""
    ranked = []
    for order, (video_id, embedding) in enumerate(candidates):
        distances = cdist(query[None, :], embedding, "sqeuclidean")[0]
        ranked += [(float(d), order, frame, video_id) for frame, d in enumerate(distances)]
    ranked.sort()
    return [(video_id, frame, distance) for distance, _, frame, video_id in ranked[:k]]


def draw_retrieval(trained: TrainedRun, query: Video, frame: int, neighbours: list[Neighbour], out: Path) -> Path:
    fig, axes = plt.subplots(1, len(neighbours) + 1, figsize=(1.7 * (len(neighbours) + 1), 2.6), squeeze=False)
    query_phase = phase_name(trained, query, frame)
    axes[0, 0].imshow(query.frames[frame])
    axes[0, 0].set_title(f"query {query.video_id} {frame}\n{query_phase}", fontsize=7, fontweight="bold")
    videos = {}
    for ax, n in zip(axes[0, 1:], neighbours):
        video = videos.setdefault(n.video_id, trained.store.video(n.video_id))
        ax.imshow(video.frames[n.frame])
        ax.set_title(f"{n.video_id} {n.frame}\n{n.phase}\nd² {n.distance:.3g}", fontsize=7)
        for spine in ax.spines.values():
            spine.set_edgecolor("green" if n.same_phase else "red")
            spine.set_linewidth(3)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{trained.record['label']} (run {trained.record['run_id'][:8]}): the {len(neighbours)} nearest "
                 "frames of other videos (green: same phase)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)


def retrieve(run: str, video_id: str, frame: int, k: int, results_root: Path, data_root: Path,
             out: Path | None = None) -> tuple[Path, list[Neighbour]]:
    """Draw the K nearest frames to frame ``frame`` of ``video_id``; return the PNG and the neighbours."""
    if k < 1:
        raise ConfigError(f"--k {k}: give at least 1 neighbour")
    trained = open_trained_run(run, results_root, data_root)
    query = load_video(trained, video_id)
    length = len(query.labels)
    if not 0 <= frame < length:
        raise ConfigError(f"--frame {frame} is out of range: video {video_id} has {length} frames (0 .. {length - 1})")
    others = candidate_ids(trained, query)
    if not others:
        raise ConfigError(f"video {video_id} is the only video of action {query.action} in its split: nothing to retrieve")
    query_phase = phase_name(trained, query, frame)
    candidates = [(other, embed(trained, trained.store.video(other))) for other in others]
    neighbours = []
    for other, index, distance in nearest_frames(embed(trained, query)[frame], candidates, k):
        phase = phase_name(trained, trained.store.video(other), index)
        neighbours.append(Neighbour(other, index, phase, distance, phase == query_phase and phase != "unlabelled"))
    out = out or Path(results_root) / "figures" / f"retrieve_{trained.record['run_id'][:8]}_{video_id}_{frame}.png"
    return draw_retrieval(trained, query, frame, neighbours, out), neighbours
