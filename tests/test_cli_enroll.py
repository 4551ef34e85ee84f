"""``greeter enroll``, ``identify`` and ``people`` run for real: real photos, a real store.

Photos come from ../shared/faces/samples (face_recognition's examples); bad photos are made
from them or generated in a temporary folder.
"""

import contextlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import cli_runner, flat_png
from PIL import Image, ImageFilter

from greeter.cli import main
from greeter.people.store import Store

pytestmark = pytest.mark.slow
KNN_PEOPLE = ["alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"]


def invoke(store, *args):
    result = cli_runner().invoke(main, ["--store", str(store), *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="session")
def knn_store(samples, tmp_path_factory):
    """A store with knn/train enrolled once for the whole session (read-only for tests)."""
    inbox = tmp_path_factory.mktemp("inbox")
    for person in KNN_PEOPLE:
        shutil.copytree(samples / "knn" / "train" / person, inbox / person)
    (inbox / "obama" / "name.txt").write_text("Barack Obama\n")
    store = tmp_path_factory.mktemp("store") / "greeter.sqlite3"
    result = invoke(store, "enroll", inbox)
    assert result.exit_code == 0, result.output
    assert "9 enrolled, 0 skipped, 0 rejected" in result.output
    return store


@pytest.fixture
def store_copy(knn_store, tmp_path):
    """A private copy of the enrolled store that a test may change."""
    copy = tmp_path / "greeter.sqlite3"
    with sqlite3.connect(str(knn_store)) as source, sqlite3.connect(str(copy)) as target:
        source.backup(target)
    return copy


def identify_json(store, *images):
    result = invoke(store, "identify", "--json", *images)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def people_in(report):
    return [face["person"] for face in report["faces"]]


def test_enrolled_people_are_listed(knn_store):
    listed = json.loads(invoke(knn_store, "people", "list", "--json").stdout)
    assert [p["id"] for p in listed] == KNN_PEOPLE
    assert {p["id"]: p["name"] for p in listed}["obama"] == "Barack Obama"
    assert {p["id"]: p["photos"] for p in listed}["biden"] == 2


@pytest.mark.parametrize("photo, expected", [
    ("obama1.jpg", ["obama"]),
    ("alex_lacamoire1.jpg", ["alex_lacamoire"]),
    ("johnsnow_test1.jpg", ["kit_harington"]),
])
def test_identify_single_faces(knn_store, samples, photo, expected):
    report = identify_json(knn_store, samples / "knn" / "test" / photo)[0]
    assert people_in(report) == expected


def test_identify_two_people_left_to_right(knn_store, samples):
    obama_and_biden, kit_with_rose = identify_json(
        knn_store, samples / "knn/test/obama_and_biden.jpg", samples / "knn/test/kit_with_rose.jpg")
    # a third, smaller face in the background of obama_and_biden.jpg is nobody enrolled
    assert sorted(filter(None, people_in(obama_and_biden))) == ["biden", "obama"]
    assert people_in(obama_and_biden).count(None) == 1
    assert sorted(people_in(kit_with_rose)) == ["kit_harington", "rose_leslie"]
    for report in (obama_and_biden, kit_with_rose):
        lefts = [face["box"][3] for face in report["faces"]]
        assert lefts == sorted(lefts)
        for face in report["faces"]:
            assert set(face) == {"box", "person", "name", "distance", "message"}
            assert 0 <= face["distance"] < (0.6 if face["person"] else 2.0)
    assert {f["person"]: f["name"] for f in obama_and_biden["faces"]}["obama"] == "Barack Obama"
    assert {f["person"]: f["message"] for f in obama_and_biden["faces"]}["obama"] \
        == "Welcome back, Barack!"


def test_unenrolled_face_is_a_stranger(knn_store, samples):
    report = identify_json(knn_store, samples / "lin-manuel-miranda.png")[0]
    assert len(report["faces"]) == 1
    face = report["faces"][0]
    assert face["person"] is None and face["name"] is None
    assert face["distance"] > 0.5
    assert face["message"] == "Welcome Stranger!"


def test_identify_text_output_and_unreadable_image(knn_store, samples, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    result = invoke(knn_store, "identify", samples / "knn/test/obama1.jpg", broken)
    assert result.exit_code == 1
    assert "obama1.jpg: Barack Obama (obama)" in result.stdout
    assert f"{broken}: not an image" in result.stderr


def test_enrolling_again_skips_every_photo(knn_store, samples, store_copy):
    result = invoke(store_copy, "enroll", "--person", "obama",
                    samples / "knn/train/obama/obama.jpg")
    assert result.exit_code == 0
    assert "0 enrolled, 1 skipped, 0 rejected" in result.stdout


def test_the_same_photo_cannot_be_enrolled_for_someone_else(samples, store_copy):
    result = invoke(store_copy, "enroll", "--person", "biden-2",
                    samples / "knn/train/obama/obama.jpg")
    assert result.exit_code == 1
    assert "rejected: the same photo is already enrolled for obama" in result.stderr


def test_the_same_face_under_a_second_id_is_refused_naming_the_first(samples, store_copy,
                                                                      tmp_path):
    """obama.jpg re-saved as WebP: another file, the same face (distance ~0.05): as a second
    person it would make both strangers to the robot."""
    copy = tmp_path / "barack.webp"
    Image.open(samples / "knn/train/obama/obama.jpg").save(copy, "WEBP", quality=90)
    result = invoke(store_copy, "enroll", "--person", "barack", copy)
    assert result.exit_code == 1
    assert "rejected: looks like obama, already enrolled (distance 0.0" in result.stderr
    assert "if this is obama, enrol the photo as obama" in result.stderr
    with Store(store_copy) as store:
        assert store.person("barack") is None
    assert "1 enrolled" in invoke(store_copy, "enroll", "--person", "obama", copy).stdout


def test_somebody_elses_photo_is_not_added_to_a_person(samples, tmp_path):
    """Biden's photo in Obama's folder (the wrong photo picked at the desk) would greet Biden
    as Obama: refused; the folder's good photo and Biden's own folder are enrolled."""
    inbox = tmp_path / "inbox"
    (inbox / "obama").mkdir(parents=True)
    (inbox / "biden").mkdir()
    shutil.copy(samples / "obama.jpg", inbox / "obama" / "1.jpg")
    shutil.copy(samples / "knn/train/biden/biden2.jpg", inbox / "obama" / "2.jpg")
    shutil.copy(samples / "biden.jpg", inbox / "biden" / "1.jpg")
    result = invoke(tmp_path / "greeter.sqlite3", "enroll", inbox)
    assert re.search(r"obama/2\.jpg: rejected: does not look like the photo enrolled for obama "
                     r"\(distance 0\.\d\d, more than 0\.65\): a photo of somebody else\?",
                     " ".join(result.stderr.split())), result.stderr
    assert "2 enrolled, 0 skipped, 1 rejected" in result.stdout
    with Store(tmp_path / "greeter.sqlite3") as store:
        assert [photo.photo_name for photo in store.photos("obama")] == ["1.jpg"]
        assert [photo.photo_name for photo in store.photos("biden")] == ["1.jpg"]


def make_bad_photos(samples: Path, folder: Path) -> dict:
    """Every kind of bad photo, with the reason staff must be told."""
    folder.mkdir(parents=True)
    obama = Image.open(samples / "obama.jpg").convert("RGB")
    full = io.BytesIO()
    obama.save(full, "JPEG")
    (folder / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 3])
    (folder / "notes.jpg").write_text("remember to bring the cake")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "folder.jpg").mkdir()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(folder / "wall.jpg")
    shutil.copy(samples / "two_people.jpg", folder / "group.jpg")
    obama.resize((obama.width // 9, obama.height // 9), Image.LANCZOS).save(folder / "far.jpg")
    obama.filter(ImageFilter.GaussianBlur(6)).save(folder / "blurred.jpg")
    return {
        "truncated.jpg": "image data is corrupt or truncated",
        "notes.jpg": "not an image",
        "empty.jpg": "empty file (0 bytes)",
        "folder.jpg": "is a directory, not a photo",
        "wall.jpg": "no face found",
        "group.jpg": "2 faces found (198 px, 136 px) and none is clearly the subject; use a "
                     "photo of this person alone or in the middle, or --largest",
        "far.jpg": "face is 36 px, smaller than the minimum of 40 px",
        "blurred.jpg": "face is blurred",
    }


def test_bad_photos_are_rejected_one_line_each_and_good_ones_enrolled(samples, tmp_path):
    person = tmp_path / "inbox" / "barack"
    expected = make_bad_photos(samples, person)
    shutil.copy(samples / "obama.jpg", person / "good.jpg")
    (person / "README.txt").write_text("photos from the press office")
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", tmp_path / "inbox")

    assert result.exit_code == 1
    problems = result.stderr.strip().splitlines()
    assert len(problems) == len(expected), result.stderr
    for name, reason in expected.items():
        line = next(line for line in problems if line.startswith(f"{person / name}: rejected: "))
        assert reason in line, line
    assert "1 enrolled, 0 skipped, 8 rejected" in result.stdout
    with Store(store) as opened:
        assert [p.photo_name for p in opened.photos("barack")] == ["good.jpg"]


def test_largest_face_on_request(samples, tmp_path):
    store = tmp_path / "greeter.sqlite3"
    result = invoke(store, "enroll", "--largest", "--person", "someone",
                    samples / "two_people.jpg")
    assert result.exit_code == 0, result.output
    assert "1 enrolled" in result.stdout


def test_huge_and_sideways_phone_photos_are_enrolled(samples, tmp_path):
    obama = Image.open(samples / "obama.jpg").convert("RGB")
    huge = tmp_path / "huge.jpg"
    factor = 12000 / max(obama.size)
    obama.resize((12000, int(obama.height * factor)) if obama.width >= obama.height
                 else (int(obama.width * factor), 12000), Image.BILINEAR).save(huge, quality=70)
    sideways = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": pixels stored turned left
    obama.transpose(Image.ROTATE_90).save(sideways, exif=exif.tobytes())
    store = tmp_path / "greeter.sqlite3"
    result = invoke(store, "enroll", "--person", "obama", huge, sideways)
    assert result.exit_code == 0, result.output
    assert "2 enrolled, 0 skipped, 0 rejected" in result.stdout
    report = identify_json(store, samples / "obama2.jpg")[0]
    assert people_in(report) == ["obama"]


def test_unreadable_photo(samples, tmp_path):
    """Permission denied, as staff get it for a photo copied from another account."""
    secret = tmp_path / "private.jpg"
    shutil.copy(samples / "obama.jpg", secret)
    os.chmod(secret, 0o000)
    command = [sys.executable, "-m", "greeter", "--store", str(tmp_path / "greeter.sqlite3"),
               "enroll", "--person", "obama", str(secret)]
    if os.geteuid() == 0:
        # root reads anything: take away the capabilities that let it ignore permissions
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 1, completed.stderr
    assert f"{secret}: rejected: cannot read file (permission denied)" in completed.stderr


def test_people_show_rename_remove(store_copy):
    shown = invoke(store_copy, "people", "show", "biden")
    assert shown.exit_code == 0
    assert "biden: Biden" in shown.stdout and "biden2.jpg" in shown.stdout
    assert invoke(store_copy, "people", "rename", "biden", "Joe Biden").exit_code == 0
    assert "biden: Joe Biden" in invoke(store_copy, "people", "show", "biden").stdout
    removed = invoke(store_copy, "people", "remove", "--yes", "biden")
    assert removed.exit_code == 0
    assert "removed biden and their 2 photos" in removed.stdout
    missing = invoke(store_copy, "people", "show", "biden")
    assert missing.exit_code == 1
    assert "Error: nobody with id 'biden' is enrolled" in missing.stderr


def test_remove_asks_first(store_copy):
    result = cli_runner().invoke(main, ["--store", str(store_copy), "people", "remove", "obama"],
                                input="n\n")
    assert result.exit_code == 1
    with Store(store_copy) as store:
        assert store.person("obama") is not None


def test_invalid_folder_name_is_explained(samples, tmp_path):
    folder = tmp_path / "inbox" / "Alex Mueller"
    folder.mkdir(parents=True)
    shutil.copy(samples / "obama.jpg", folder / "1.jpg")
    result = invoke(tmp_path / "s.sqlite3", "enroll", tmp_path / "inbox")
    assert result.exit_code == 1
    assert "'Alex Mueller' is not a valid person id" in result.stderr
    assert "e.g. alex-mueller" in result.stderr


def test_a_killed_enrolment_leaves_a_consistent_store(lfw, tmp_path):
    """SIGKILL in the middle of a run: every photo is either fully enrolled or absent."""
    inbox = tmp_path / "inbox"
    people = sorted((lfw / "people").iterdir())[:24]  # 24 different people: none looks like
    for index, source in enumerate(people):         # another (enrolment would refuse it)
        person = inbox / f"person-{index:02d}"
        person.mkdir(parents=True)
        shutil.copy(source / f"{source.name}_0001.jpg", person / "photo.jpg")
    store = tmp_path / "greeter.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "greeter", "--store", str(store), "enroll", str(inbox)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _enrolled_count(store) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, 9)
    process.wait()

    with sqlite3.connect(str(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = db.execute("SELECT COUNT(*) FROM people p WHERE NOT EXISTS "
                             "(SELECT 1 FROM embeddings e WHERE e.person_id = p.id)").fetchone()[0]
        assert orphans == 0
        enrolled = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert 3 <= enrolled < 24, "the kill should land in the middle of the run"
    result = invoke(store, "enroll", inbox)
    assert f"{24 - enrolled} enrolled, {enrolled} skipped" in result.stdout


def _enrolled_count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(str(store), timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_stranger_photos_leave_no_trace(knn_store, samples):
    """identify never writes: the store is byte-identical after a stranger was looked at."""
    before = Path(knn_store).read_bytes()
    identify_json(knn_store, samples / "lin-manuel-miranda.png")
    assert Path(knn_store).read_bytes() == before


def test_enrolment_workers_run_blas_and_opencv_on_one_thread_each():
    """A worker a core: dlib's BLAS or OpenCV's thread pool (SFace) running threads of their
    own in each worker would make four busy threads on two cores."""
    import cv2

    from greeter.background import prepare_worker

    context = multiprocessing.get_context("spawn")  # as enrolment starts them
    with ProcessPoolExecutor(1, mp_context=context, initializer=prepare_worker,
                             initargs=(os.getpid(),)) as pool:
        assert pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result() == "1"
        assert pool.submit(cv2.getNumThreads).result() == 1


# --- stopping a run: kill -9, Ctrl-C, SIGTERM -------------------------------------------------


def start_enrolment(lfw, tmp_path, photos=120):
    """The real `greeter enroll` of an inbox of many real photos (each person's in their own
    folder) with two worker processes, in a session of its own (as a terminal's job is), and
    the photos it was given."""
    sources = sorted((lfw / "people").glob("*/*.jpg"))[:photos]
    inbox = tmp_path / "inbox"
    for source in sources:
        folder = inbox / re.sub(r"[^a-z0-9]+", "-", source.parent.name.lower()).strip("-")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / source.name)
    store = tmp_path / "greeter.sqlite3"
    output = (tmp_path / "stdout.txt").open("w"), (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "greeter", "--store", str(store), "enroll", "--largest",
         "--workers", "2", str(inbox)],
        stdout=output[0], stderr=output[1], start_new_session=True)
    for handle in output:
        handle.close()
    return process, store, sources


def wait_until_enrolled(process, store, count):
    deadline = time.monotonic() + 120
    while _enrolled_count(store) < count:
        assert process.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, "nothing was enrolled within two minutes"
        time.sleep(0.05)


def children_of(pid):
    """Pids of the live (not zombie) processes whose parent is `pid`, from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(ppid) == pid and state != "Z":
            children.append(int(stat.parent.name))
    return children


def is_alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


def wait_until_gone(pids):
    """The pids still alive after waiting (bounded) for them to end."""
    deadline = time.monotonic() + 30
    while any(map(is_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if is_alive(pid)]


@pytest.fixture
def cleanup_group():
    """Kills whatever a test leaves of the process groups it registers, pass or fail."""
    groups = []
    yield groups.append
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_die_with_an_enrolment_killed_by_sigkill(lfw, tmp_path, cleanup_group):
    """kill -9 of the enrolment alone (not its group): its workers (~150 MB each) used to live
    on forever."""
    process, store, _ = start_enrolment(lfw, tmp_path)
    cleanup_group(process.pid)
    wait_until_enrolled(process, store, 2)
    workers = children_of(process.pid)
    assert len(workers) >= 2, "two analysing processes (and the resource tracker)"

    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert wait_until_gone(workers) == []
    with sqlite3.connect(str(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] >= 2


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("stop, status", [
    # Ctrl-C: the terminal signals the whole foreground group, workers included
    (lambda process: os.killpg(process.pid, signal.SIGINT), 130),
    # kill / systemd: the enrolment alone
    (lambda process: os.kill(process.pid, signal.SIGTERM), 143),
], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_enrolment_stops_at_once_and_keeps_what_was_enrolled(
        lfw, tmp_path, cleanup_group, stop, status):
    process, store, sources = start_enrolment(lfw, tmp_path)
    cleanup_group(process.pid)
    wait_until_enrolled(process, store, 2)
    workers = children_of(process.pid)
    enrolled_before = _enrolled_count(store)

    stop(process)
    assert process.wait(timeout=120) == status

    stdout = (tmp_path / "stdout.txt").read_text()
    assert wait_until_gone(workers) == []
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(), "a clean stop, no thread's"
    enrolled, skipped, rejected = map(int, re.search(
        r"(\d+) enrolled, (\d+) skipped, (\d+) rejected", stdout).groups())
    not_analysed = int(re.search(r"interrupted: (\d+) photos not analysed", stdout).group(1))
    assert enrolled + skipped + rejected + not_analysed == len(sources)
    assert _enrolled_count(store) == enrolled
    # at most the photos in hand when the signal came; not every queued photo (the old way)
    assert enrolled <= enrolled_before + 2
    assert not_analysed >= len(sources) - enrolled_before - rejected - 2


# --- odd photos ----------------------------------------------------------------------------------


def test_a_photo_with_malformed_exif_no_longer_ends_the_run(samples, tmp_path):
    """Pillow's exif_transpose raised AttributeError on this file's EXIF, which ended the
    whole enrolment; it is read as any sideways photo now."""
    obama = Image.open(samples / "obama.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x011A] = 72.0
    # one byte: XResolution's entry becomes DateTime's, a rational where Pillow expects text
    odd_exif = exif.tobytes().replace(b"\x01\x1a\x00\x05", b"\x01\x32\x00\x05")
    odd = tmp_path / "odd.jpg"
    obama.transpose(Image.ROTATE_90).save(odd, exif=odd_exif)
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", "--person", "obama", odd, samples / "obama2.jpg")

    assert result.exit_code == 0, result.output
    assert "2 enrolled, 0 skipped, 0 rejected" in result.stdout


def test_any_failure_analysing_one_photo_rejects_only_that_photo(samples, tmp_path, monkeypatch):
    """Whatever a library raises on one photo (Pillow has raised ZeroDivisionError on odd files)
    becomes that photo's rejection; the run goes on."""
    import greeter.people.enrolment

    real_load_rgb = greeter.people.enrolment.load_rgb

    def load_rgb(path, max_side=0):
        if Path(path).name == "odd.jpg":
            raise ZeroDivisionError("division by zero")
        return real_load_rgb(path, max_side)

    monkeypatch.setattr(greeter.people.enrolment, "load_rgb", load_rgb)
    odd = tmp_path / "odd.jpg"
    shutil.copy(samples / "biden.jpg", odd)
    store = tmp_path / "greeter.sqlite3"

    # one worker: the photos are analysed in this process, where the failing loader is
    result = invoke(store, "enroll", "--workers", "1", "--person", "obama", odd,
                    samples / "obama.jpg")

    assert result.exit_code == 1
    assert (f"{odd}: rejected: could not be analysed: ZeroDivisionError: division by zero"
            in result.stderr)
    assert "1 enrolled, 0 skipped, 1 rejected" in result.stdout


def test_iphone_heic_and_avif_photos_are_enrolled(samples, tmp_path):
    """HEIC is what iPhones take; it was 'not an image', and .heic/.avif files in a person
    folder were skipped without a word."""
    obama = Image.open(samples / "obama.jpg").convert("RGB")
    person = tmp_path / "inbox" / "obama"
    person.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # held upright, stored turned left: as an iPhone writes it
    obama.transpose(Image.ROTATE_90).save(person / "IMG_0001.HEIC", "HEIF", exif=exif.tobytes())
    obama.rotate(4, resample=Image.BILINEAR).save(person / "IMG_0002.avif", "AVIF")
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", tmp_path / "inbox")

    assert result.exit_code == 0, result.output
    assert "2 enrolled, 0 skipped, 0 rejected" in result.stdout
    with Store(store) as opened:
        assert sorted(p.photo_name for p in opened.photos("obama")) == ["IMG_0001.HEIC",
                                                                       "IMG_0002.avif"]
    assert people_in(identify_json(store, samples / "obama2.jpg")[0]) == ["obama"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_huge_png_is_refused_in_bounded_memory(tmp_path):
    """15,800x15,800 pixels in a 0.7 MB PNG, under the 250-megapixel cap: enrolling it took
    2.2 GB (two of them 4.5 GB). Measured in a process of its own, by the high-water mark of
    its memory since it started (getrusage would count the forking test process's memory)."""
    huge = flat_png(tmp_path / "huge.png", 15_800, 15_800)
    measure = ("import re, sys\n"
               "from greeter.cli import main\n"
               "try:\n"
               "    main(sys.argv[1:])\n"
               "finally:\n"
               "    status = open('/proc/self/status').read()\n"
               "    print('peak', re.search(r'VmHWM:\\s*(\\d+) kB', status).group(1))\n")
    completed = subprocess.run(
        [sys.executable, "-c", measure, "--store", str(tmp_path / "greeter.sqlite3"),
         "enroll", "--workers", "1", "--person", "big", str(huge)],
        capture_output=True, text=True)
    assert completed.returncode == 1
    assert (f"{huge}: rejected: image is 15800x15800 (250 megapixels); PNG images are decoded "
            f"at full size, and at most 50 megapixels fit in memory" in completed.stderr)
    peak_kb = int(re.search(r"peak (\d+)", completed.stdout).group(1))
    assert peak_kb < 400_000, f"peak memory {peak_kb // 1024} MB"


# --- person folders without photos ----------------------------------------------------------------


def test_person_folders_without_photos_are_warned_about(samples, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "alex").mkdir(parents=True)
    (inbox / "alex" / "name.txt").write_text("Alex\n")
    (inbox / "zoe").mkdir()
    (inbox / "zoe" / "zoe.docx").write_text("photos to follow")
    (inbox / "zoe" / "clip.mov").write_bytes(b"\0" * 10)
    (inbox / "obama").mkdir()
    shutil.copy(samples / "obama.jpg", inbox / "obama" / "1.jpg")

    result = invoke(tmp_path / "greeter.sqlite3", "enroll", inbox)

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert warnings == [
        f"{inbox / 'alex'}: warning: no photos in it: put photos of alex's face in this folder "
        f"(.avif, .bmp, .gif, .heic, .heif, .jpeg, .jpg, .png, .tif, .tiff, .webp)",
        f"{inbox / 'zoe'}: warning: none of its 2 files is a photo: put photos of zoe's face "
        f"in this folder (.avif, .bmp, .gif, .heic, .heif, .jpeg, .jpg, .png, .tif, .tiff, "
        f".webp)",
    ]
    assert "1 enrolled, 4 skipped, 0 rejected" in result.stdout


def test_an_inbox_of_empty_person_folders_is_an_error(tmp_path):
    (tmp_path / "inbox" / "alex").mkdir(parents=True)
    result = invoke(tmp_path / "greeter.sqlite3", "enroll", tmp_path / "inbox")
    assert result.exit_code == 1
    assert f"{tmp_path / 'inbox' / 'alex'}: warning: no photos in it" in result.stderr
    assert f"Error: no photos found in {tmp_path / 'inbox'}" in result.stderr


# --- what a real photo earns: enrolled, enrolled with advice, or rejected (issue 10) -------


def test_a_small_face_is_enrolled_with_advice_and_the_person_flagged(lfw, tmp_path):
    photo = lfw / "people" / "Adolfo_Aguilar_Zinser" / "Adolfo_Aguilar_Zinser_0001.jpg"
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", "--person", "adolfo", photo)

    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"{photo}: warning: small face (52 px): a larger photo "
                                     f"will be recognised more often")
    assert "1 enrolled, 0 skipped, 0 rejected; 1 enrolled with a warning" in result.stdout
    listed = json.loads(invoke(store, "people", "list", "--json").stdout)
    assert listed[0]["hint"] == "one weak photo: add 1-2 more photos"
    shown = invoke(store, "people", "show", "adolfo").stdout.splitlines()
    assert shown[0].endswith("): one weak photo: add 1-2 more photos")
    assert shown[-1] == ("Adolfo_Aguilar_Zinser_0001.jpg: small face (52 px): a larger photo "
                         "will be recognised more often")


def test_people_list_flags_a_single_photo_and_not_two(samples, tmp_path):
    store = tmp_path / "greeter.sqlite3"
    invoke(store, "enroll", "--person", "barack", samples / "obama.jpg", samples / "obama2.jpg")
    invoke(store, "enroll", "--person", "joe", samples / "biden.jpg")

    hints = {person["id"]: person["hint"]
             for person in json.loads(invoke(store, "people", "list", "--json").stdout)}

    assert hints == {"barack": "", "joe": "one photo: add 1-2 more photos"}
    assert "hint" in invoke(store, "people", "list").stdout
    joe = invoke(store, "people", "show", "joe").stdout.splitlines()[0]
    assert joe.startswith("joe: Joe (enrolled")
    assert joe.endswith("): one photo: add 1-2 more photos")
    barack = invoke(store, "people", "show", "barack").stdout.splitlines()[0]
    assert barack.startswith("barack: Barack (enrolled") and barack.endswith(")")


def test_the_central_face_of_two_is_enrolled_as_the_person(lfw, tmp_path):
    # Julianne_Moore_0001: two 62 px faces; she is the one in the middle
    folder = lfw / "people" / "Julianne_Moore"
    photos = sorted(folder.glob("*.jpg"))
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", "--person", "julianne", photos[0])

    assert result.exit_code == 0, result.output
    assert "1 enrolled" in result.stdout and "rejected: " not in result.stderr
    named = [face["person"] for photo in photos[1:]
             for face in identify_json(store, photo)[0]["faces"][:1]]
    assert named.count("julianne") >= len(named) // 2, named


def test_a_much_larger_face_is_enrolled_and_a_bystander_ignored(samples, tmp_path):
    photo = Image.open(samples / "obama.jpg").convert("RGB")
    bystander = Image.open(samples / "biden.jpg").convert("RGB")
    bystander = bystander.resize((bystander.width // 4, bystander.height // 4), Image.LANCZOS)
    photo.paste(bystander, (photo.width - bystander.width, photo.height - bystander.height))
    photo.save(tmp_path / "obama-and-a-bystander.jpg")
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", "--person", "barack", tmp_path / "obama-and-a-bystander.jpg")

    assert result.exit_code == 0, result.output
    assert "1 enrolled" in result.stdout
    assert people_in(identify_json(store, samples / "obama2.jpg")[0]) == ["barack"]
    assert people_in(identify_json(store, samples / "biden.jpg")[0]) == [None]


def test_a_photo_of_two_people_side_by_side_is_rejected_naming_the_sizes(samples, tmp_path):
    store = tmp_path / "greeter.sqlite3"

    result = invoke(store, "enroll", "--person", "someone", samples / "two_people.jpg")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{samples / 'two_people.jpg'}: rejected: 2 faces found (198 px, 136 px) and none is "
        f"clearly the subject; use a photo of this person alone or in the middle, or --largest "
        f"to enrol the largest face")


def test_a_photo_the_second_model_fails_on_is_still_enrolled_with_the_first(samples, tmp_path,
                                                                              monkeypatch):
    """An error of SFace (OpenCV) on one photo costs that photo its SFace embedding only."""
    import cv2

    from greeter.recognition.sface import SFaceEngine

    def broken(self, crop):
        raise cv2.error("a broken model")

    monkeypatch.setattr(SFaceEngine, "embed_crop", broken)
    inbox = tmp_path / "enroll" / "obama"
    inbox.mkdir(parents=True)
    shutil.copy(samples / "obama.jpg", inbox / "obama.jpg")  # one photo: analysed in-process
    store = tmp_path / "greeter.sqlite3"
    result = cli_runner().invoke(main, ["--store", str(store), "enroll", str(inbox.parent)])
    assert result.exit_code == 0, result.output
    with Store(store) as enrolled:
        assert enrolled.model_counts() == {enrolled.model_id: 1}
