"""How far a face's new embedding may lie from its track's average before the track is split
(`TrackingSettings.split_distance`): the same person in one pass beside two different people.

* **Same person, one pass** (must not split): the real Hamilton clip, every frame detected and
  embedded with greeter's own face engine; faces followed by box overlap; for each embedding,
  its distance from the quality-weighted average of the track's earlier embeddings (what the
  tracker compares, for every vote, however small, soft or turned its face). Also lfw-dev:
  one person's *different photos* (different days, lights, ages), a harder case than one
  pass, as an upper bound.
* **Different people** (must split): lfw-dev, each photo against every photo of another person
  (the cached embeddings of ``benchmarks/scene_passes.py``), the share within each distance.

Prints, for each candidate threshold, the share of same-person comparisons that would split
(a pass greeted twice) beside the share of different-people pairs that would not (a new
person continuing the last one's track).

Usage: python benchmarks/track_split.py [--samples ../shared/faces/samples]
       [--embeddings /work/cache/i10b/lfw_embeddings.npz]
"""

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
THRESHOLDS = (0.45, 0.5, 0.55, 0.6, 0.65)


SFACE_THRESHOLDS = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25)


def clip_distances(clip: Path, model: str = "dlib") -> np.ndarray:
    from greeter.live.camera import open_source
    from greeter.live.tracking import iou
    from greeter.recognition.faces import FaceEngine
    from greeter.recognition.sface import SFaceEngine
    from greeter.recognition.votes import Vote, mean_embedding, vote_weight

    engine = FaceEngine()
    sface = SFaceEngine() if model == "sface" else None
    source = open_source(str(clip))
    tracks = []  # (last box, votes)
    distances = []
    while True:
        frame = source.read()
        if frame is None:
            break
        boxes = engine.detect(frame.rgb)
        for face in engine.faces(frame.rgb, boxes):
            embedding = face.embedding
            if sface is not None:  # SFace's embedding of dlib's face, weighted as dlib's
                embedding = sface.embed_boxes(frame.rgb, [face.box])[0]
                if embedding is None:
                    continue
            vote = Vote(None, 0.0, embedding, vote_weight(face.size, face.sharpness, face.turn))
            best = max(tracks, key=lambda track: iou(track[0], face.box), default=None)
            if best is not None and iou(best[0], face.box) >= 0.3:
                distances.append(float(np.linalg.norm(
                    mean_embedding(best[1]) - embedding)))
                best[1].append(vote)
                tracks[tracks.index(best)] = (face.box, best[1])
            else:
                tracks.append((face.box, [vote]))
    source.close()
    return np.array(distances)


def lfw_distances(embeddings: Path, model: str = "dlib", lfw: Optional[Path] = None):
    data = dict(np.load(embeddings))
    if model == "sface":
        from track_rule_lfw import with_sface_embeddings

        data = with_sface_embeddings(data, lfw)
    # each stranger is a person of their own (the cache labels them all "stranger")
    labels = np.array([f"{label}/{index}" if label == "stranger" else label
                       for index, label in enumerate(data["label"])])
    vectors = data["embedding"].astype(np.float64)
    same, different = [], []
    rng = np.random.default_rng(0)
    by_label = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    for indices in by_label.values():
        for a in range(len(indices)):
            for b in range(a + 1, len(indices)):
                same.append(np.linalg.norm(vectors[indices[a]] - vectors[indices[b]]))
    sample = rng.choice(len(labels), size=min(3000, len(labels)), replace=False)
    for position, a in enumerate(sample):
        others = sample[position + 1:]
        others = others[labels[others] != labels[a]]
        different.extend(np.linalg.norm(vectors[others] - vectors[a], axis=1))
    return np.array(same), np.array(different)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared/faces/samples")
    parser.add_argument("--embeddings", type=Path,
                        default=Path("/work/cache/i10b/lfw_embeddings.npz"))
    parser.add_argument("--model", choices=("dlib", "sface"), default="dlib",
                        help="sface: SFace's embeddings of dlib's faces (benchmarks/models.py's "
                        "cache for lfw-dev)")
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw-dev")
    args = parser.parse_args()
    clip = args.samples / "short_hamilton_clip.mp4"
    if not clip.is_file() or not args.embeddings.is_file():
        sys.exit(f"need {clip} and {args.embeddings} (benchmarks/scene_passes.py makes it)")
    in_pass = clip_distances(clip, args.model)
    same, different = lfw_distances(args.embeddings, args.model, args.lfw)
    print(f"same person, one pass (Hamilton clip, {len(in_pass)} embeddings against their "
          f"track's average): median {np.median(in_pass):.3f}, p99 "
          f"{np.percentile(in_pass, 99):.3f}, max {in_pass.max():.3f}")
    print(f"same person, different photos (lfw-dev, {len(same)} pairs): median "
          f"{np.median(same):.3f}; different people ({len(different)} pairs): median "
          f"{np.median(different):.3f}")
    print("threshold  one pass split  other photos split  different people not split")
    for threshold in SFACE_THRESHOLDS if args.model == "sface" else THRESHOLDS:
        print(f"{threshold:9.2f}  {np.mean(in_pass > threshold) * 100:13.2f}%  "
              f"{np.mean(same > threshold) * 100:17.2f}%  "
              f"{np.mean(different <= threshold) * 100:25.2f}%")


if __name__ == "__main__":
    main()
