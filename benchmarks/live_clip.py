"""The live robot on a real clip: greeter's loop beside today's loop and face_recognition's
webcam loop.

All process every frame of ``samples/short_hamilton_clip.mp4`` (9 s, 640x360, 275 frames) as
fast as they can, with ``lin-manuel-miranda.png`` enrolled:

* **greeter** - `greeter.live.robot.Greeter` headless, rendering every frame off screen (1280x720),
  in a child process (`loop_runs`);
* **today's loop** - the same from a `git worktree` of main at `BASELINE_COMMIT` (detection
  of whole frames every 0.1 s, embedding on the drawing thread), made under the system's
  temporary folder if ``--baseline`` is not given;
* **face_recognition** - its ``facerec_from_webcam_faster.py`` loop: every other frame at 1/2
  scale, ``face_locations`` + ``face_encodings`` + ``compare_faces`` (tolerance 0.6), boxes and
  names drawn on the frame (the example shows it in a window; nothing is shown here).

Printed: frames per second (of `Greeter.run`; and counting `Greeter()` too, where greeter loads
its models while today's loop loads them on its first frames); face recall, the share of the
frames with a face (by a reference full-resolution HOG pass over every frame) on which the
loop had a face; the time from each
greeted face's first frame to its greeting (video time); then the peak memory of
``greeter run`` on the clip as a separate process with 1,000 people enrolled (Lin-Manuel
Miranda plus 999 synthetic embeddings), for both greeter trees, summed over its processes (the
loop and its identity worker) two ways:

* **own** (the goal's figure): the loop's resident memory plus the worker's private memory
  (USS). The pages both map (Python, numpy, dlib: the worker's ~35 MB of shared pages) count
  once, as they take the Nano's memory once; what greeter shares with other programs counts
  fully. Sampled every 20 ms, like
* **RSS summed**, which counts the shared pages twice.

Goals: >= 60 fps, recall >= 97 %, time-to-greet <= 0.3 s, peak memory <= 200 MB.

Usage: python benchmarks/live_clip.py [--samples ../shared/faces/samples] [--baseline DIR]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loop_runs import (  # noqa: E402
    REPO,
    clip_and_baseline,
    comparison_arguments,
    run_loop,
    spec_for,
)
from scene_passes import store_for  # noqa: E402


def read_frames(clip: Path) -> List[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def reference_face_frames(frames) -> np.ndarray:
    """Frames on which dlib's HOG finds a face at full resolution (no upsampling)."""
    from greeter.recognition.faces import FaceEngine

    engine = FaceEngine()
    return np.array([bool(engine.detect(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))) for f in frames])


def enrol_lin(samples: Path, store: Path, extra_people: int = 0) -> None:
    from greeter.people.enrolment import Enroller, jobs_for_person
    from greeter.people.store import Store
    from greeter.settings import Settings

    settings = Settings.load(environ={})
    with Store(store) as opened:
        Enroller(opened, settings.detection, settings.enrolment).run(jobs_for_person(
            "lin-manuel-miranda", "Lin-Manuel Miranda", [samples / "lin-manuel-miranda.png"]))
        rng = np.random.default_rng(0)
        for index in range(extra_people):
            vector = rng.normal(0, 0.09, 128).astype(np.float32)
            opened.add_embedding(f"guest-{index:04d}", None, vector, f"synthetic-{index}",
                                 "synthetic.jpg", 150, 100.0)


def run_baseline(frames, lin_photo: Path):
    """face_recognition's facerec_from_webcam_faster loop, at 1/2 scale, without a window."""
    import face_recognition

    known = face_recognition.face_encodings(face_recognition.load_image_file(str(lin_photo)))
    names = ["Lin-Manuel Miranda"]
    had_face = []
    face_locations: list = []
    face_names: list = []
    started = time.perf_counter()
    for index, frame in enumerate(frames):
        if index % 2 == 0:
            small = cv2.resize(frame, (0, 0), fx=0.5, fy=0.5)
            rgb = np.ascontiguousarray(small[:, :, ::-1])
            face_locations = face_recognition.face_locations(rgb)
            encodings = face_recognition.face_encodings(rgb, face_locations)
            face_names = []
            for encoding in encodings:
                matches = face_recognition.compare_faces(known, encoding)
                distances = face_recognition.face_distance(known, encoding)
                best = int(np.argmin(distances))
                face_names.append(names[best] if matches[best] else "Unknown")
        for (top, right, bottom, left), name in zip(face_locations, face_names):
            top, right, bottom, left = top * 2, right * 2, bottom * 2, left * 2
            cv2.rectangle(frame, (left, top), (right, bottom), (0, 0, 255), 2)
            cv2.putText(frame, name, (left + 6, bottom - 6), cv2.FONT_HERSHEY_DUPLEX, 1.0,
                        (255, 255, 255), 1)
        had_face.append(bool(face_locations))
    return len(frames) / (time.perf_counter() - started), np.array(had_face)


def first_face_frame(frame: int, face_frames: np.ndarray) -> int:
    """The first frame of the run of face frames that `frame` belongs to, or of the last run
    before it (a greeting shown on a frame the face had just left)."""
    while frame > 0 and not face_frames[frame]:
        frame -= 1
    while frame > 0 and face_frames[frame - 1]:
        frame -= 1
    return frame


def first_face_frames(greeted: List[dict], face_frames: np.ndarray) -> Dict[Optional[str], int]:
    """Per person greeted (None: a stranger): the first frame of their face's run of frames."""
    return {greeting["person"]: first_face_frame(greeting["frame"], face_frames)
            for greeting in greeted}


def time_to_greet(greetings, face_frames: np.ndarray, fps: float) -> List[float]:
    """Per greeting: video seconds from the first frame of the run of face frames it belongs
    to."""
    return [(g["frame"] - first_face_frame(g["frame"], face_frames)) / fps for g in greetings]


#: Started as a fresh process, so that `greeter run` is its only child: a child forked from
#: this benchmark would briefly map the benchmark's own memory (decoded frames, models), and
#: RUSAGE_CHILDREN would count it.
MEASURE = """
import subprocess, sys, time
import psutil
run = psutil.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
own = rss = 0
while run.poll() is None:
    try:
        workers = run.children(recursive=True)
        loop = run.memory_info().rss
        own = max(own, loop + sum(p.memory_full_info().uss for p in workers))
        rss = max(rss, loop + sum(p.memory_info().rss for p in workers))
    except psutil.Error:
        pass
    time.sleep(0.02)
print(own, rss)
"""


def peak_memory_mb(tree: Path, samples: Path, store: Path,
                   model: str = "dlib") -> Dict[str, float]:
    """Peak memory of ``greeter run`` (of `tree`, recognising with `model`) over the clip with
    the `store`'s people: its process and its worker processes together (``own`` and ``rss``,
    see the module docstring), sampled every 20 ms."""
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "greeter", "--store",
         str(store_for(tree, store)), "run", "--headless", "--source",
         str(samples / "short_hamilton_clip.mp4")],
        check=True, capture_output=True, text=True, cwd=str(tree),
        env={**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(tree),
             **({"GREETER_RECOGNITION__MODEL": model} if model != "dlib" else {})})
    own, rss = (int(value) / 2 ** 20 for value in measured.stdout.split())
    return {"own": own, "rss": rss}


def flat_out(tree: Path, store: Path, clip: Path, face_frames: np.ndarray, fps: float) -> dict:
    """One loop over the whole clip as fast as possible: its fps, recall and time-to-greet."""
    report = run_loop(tree, spec_for(store, str(clip), realtime=False, record_face_frames=True))
    found = np.zeros(len(face_frames), bool)
    found[report["face_frames"]] = True
    return {"fps": report["frames"] / report["seconds"],
            "fps_with_startup": report["frames"] / (report["seconds"]
                                                    + report["startup_seconds"]),
            "recall": float(np.sum(found & face_frames)) / max(1, face_frames.sum()),
            "greeted": report["greeted"],
            "time_to_greet": time_to_greet(report["greeted"], face_frames, fps),
            "detections": report["detections"]}


def main(argv=None) -> int:
    args = comparison_arguments(__doc__.splitlines()[0]).parse_args(argv)
    clip, baseline = clip_and_baseline(args)
    frames = read_frames(clip)
    fps = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS)
    face_frames = reference_face_frames(frames)
    print(f"{clip.name}: {len(frames)} frames, {face_frames.sum()} with a face "
          f"(full-resolution HOG reference); load before: {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "lin.sqlite3"
        enrol_lin(args.samples, store)
        ours = flat_out(REPO, store, clip, face_frames, fps)
        today = flat_out(baseline, store, clip, face_frames, fps)
        theirs_fps, theirs_faces = run_baseline(frames, args.samples / "lin-manuel-miranda.png")
        theirs_recall = float(np.sum(theirs_faces & face_frames)) / max(1, face_frames.sum())
        thousand = Path(folder) / "thousand.sqlite3"
        enrol_lin(args.samples, thousand, extra_people=999)
        ours["memory"] = peak_memory_mb(REPO, args.samples, thousand)
        today["memory"] = peak_memory_mb(baseline, args.samples, thousand)
        with_sface = peak_memory_mb(REPO, args.samples, thousand, model="sface")
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print(f"\n{'':28} {'fps':>6} {'with start-up':>14} {'face recall':>12} "
          f"{'peak MB (1,000): own':>21} {'RSS summed':>11}  time-to-greet")
    for name, result in (("greeter", ours), ("today's loop", today)):
        greeted = ", ".join(f"{g['person'] or 'a stranger'} {delay:.2f} s"
                            for g, delay in zip(result["greeted"], result["time_to_greet"]))
        print(f"{name:28} {result['fps']:6.1f} {result['fps_with_startup']:14.1f} "
              f"{result['recall']:12.0%} "
              f"{result['memory']['own']:21.0f} {result['memory']['rss']:11.0f}  {greeted}")
    print(f"{'greeter, recognising w. SFace':28} {'':6} {'':14} {'':12} "
          f"{with_sface['own']:21.0f} {with_sface['rss']:11.0f}")
    print(f"{'face_recognition loop (1/2)':28} {theirs_fps:6.1f} {theirs_recall:12.0%}")
    print("goals: >= 60 fps, recall >= 97 %, time-to-greet <= 0.3 s, own memory <= 200 MB")
    print(json.dumps({
        name: {"fps": round(r["fps"], 1), "fps_with_startup": round(r["fps_with_startup"], 1),
               "recall": round(r["recall"], 3),
               "time_to_greet": [round(d, 3) for d in r["time_to_greet"]],
               "peak_memory_mb": {kind: round(mb) for kind, mb in r["memory"].items()},
               "detections": r["detections"]}
        for name, r in (("greeter", ours), ("today", today))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
