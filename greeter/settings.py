"""Every setting of greeter, typed, defaulted and documented in one place.

Settings come from, in increasing priority: the defaults below, environment variables, and
command-line options. Environment variables are ``GREETER_`` plus the field path in capitals
with ``__`` between levels::

    GREETER_STORE=/var/lib/greeter/greeter.sqlite3
    GREETER_GREETINGS=/var/lib/greeter/greetings.json
    GREETER_ENROLMENT__MIN_FACE_SIZE=80
    GREETER_MATCHING__THRESHOLD=0.45

Names are matched case-insensitively and empty variables are ignored; a section may also be
given whole as JSON (``GREETER_MATCHING='{"threshold": 0.45}'``), and a variable of one of its
fields wins over it. `environment_values` reads them the way pydantic-settings did, which greeter
no longer uses: it cost the robot's process 5 MB. A bad value stops the program with the
variable's name and pydantic's reason; a ``GREETER_*`` variable that names no setting is ignored
with a warning (the JetBot installer's own variables are ``JETBOT_*``).
"""

import collections.abc
import json
import logging
import os
import re
import socket
import urllib.parse
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    get_args,
    get_origin,
)

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from greeter.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PREFIX = "GREETER_"
#: Between the levels of a field path in a variable's name: GREETER_MATCHING__THRESHOLD.
NESTED_DELIMITER = "__"


class StrictModel(BaseModel):
    """Unknown keys are errors: a misspelt setting must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DetectionSettings(StrictModel):
    """HOG face detection on still photos (enrolment, identify, calibrate)."""

    photo_max_side: int = Field(
        1024,
        ge=160,
        description="Photos are shrunk so their longer side is at most this many pixels before "
        "detection. HOG finds faces from ~80 px, so a portrait loses nothing and a "
        "12-megapixel photo is scanned ~10x faster.",
    )
    retry_upsample: int = Field(
        1,
        ge=0,
        le=2,
        description="When no face is found, detect again on the image upsampled this many times "
        "(x2 each). Finds faces down to ~40 px, e.g. LFW's 150x150 photos.",
    )
    frame_upsample: int = Field(
        0,
        ge=0,
        le=2,
        description="Upsampling of live camera frames before detection. 0 finds faces from "
        "~80 px, enough for guests within ~2 m of a 640x480 camera; each step doubles the "
        "reach and quadruples the cost.",
    )
    load_max_side: int = Field(
        2048,
        ge=256,
        description="Photos are decoded at most this large. Landmarks and the 150x150 aligned face "
        "are taken at this resolution, which is more than any face needs.",
    )


class EnrolmentSettings(StrictModel):
    """What makes a photo good enough to enrol, and what only earns a warning.

    Measured with ``benchmarks/enrolment_checks.py`` on lfw-dev: one photo enrolled per person
    (1,178 people, default matching), the people's other photos and 600 strangers identified;
    pooled over 4 rounds that each enrol another photo of every person (3,404 enrolled photos).
    A limit rejects only where the enrolled photo made wrong names (others or strangers given
    this person's name) clearly likelier; elsewhere a weak photo is enrolled with a warning that
    says how to do better.
    """

    min_face_size: int = Field(
        40,
        ge=0,
        description="Smallest accepted face, as the side of the detected face box in the photo's "
        "pixels. lfw-dev, identified correctly by face size of the enrolled photo: under 50 px "
        "32 %, 50-55 px 60 %, 60 px and more 61 %; no size made wrong names likelier. Under "
        "40 px was never measured (the detector hardly finds such faces), so it is refused.",
    )
    good_face_size: int = Field(
        60,
        ge=0,
        description="Faces smaller than this are enrolled with a warning to use a larger photo "
        "(see min_face_size for the measurements).",
    )
    min_sharpness: float = Field(
        10.0,
        ge=0,
        description="Smallest accepted sharpness: the variance of the Laplacian of the aligned "
        "150x150 face (greeter.recognition.faces.sharpness; a 5-pixel blur falls below 10). "
        "lfw-dev, by sharpness of the enrolled photo: under 10 32 % identified correctly (20 "
        "photos), 10-15 55 % with the most wrong names given to them (3.2 per 100 photos, 0.8 "
        "elsewhere), 15-20 57 %, 20 and more 61 %.",
    )
    good_sharpness: float = Field(
        20.0,
        ge=0,
        description="Faces less sharp than this are enrolled with a warning to use a sharper "
        "photo (see min_sharpness).",
    )
    max_turn: float = Field(
        0.4,
        gt=0,
        description="Largest accepted head turn (greeter.recognition.faces.head_turn: 0 frontal, "
        "0.5 a profile). lfw-dev, by head turn of the enrolled photo: other people or strangers "
        "given that person's name 4.1 times per 100 photos from 0.25 on (145 photos), 0.8 under; "
        "identified correctly about 47 % from 0.25 on, 61 % under. Refusing from 0.25 would leave "
        "94 % of lfw-dev's people enrolled; any limit from 0.3 to 0.4 gives the same wrong names "
        "over the whole of lfw-dev (3, 4 without a limit); 0.4 rejects only the most turned "
        "(correct 30 %, 5.3 per 100 photos named as them) and enrols 98.1 %.",
    )
    good_turn: float = Field(
        0.25,
        gt=0,
        description="Faces turned more than this are enrolled with a warning to use a photo "
        "looking at the camera (from here on, see max_turn).",
    )
    subject_size_ratio: float = Field(
        1.5,
        ge=1,
        description="In a photo with several faces, a face at least this many times as large "
        "(box side) as every other face is the photo's subject and is enrolled. On the 64 "
        "lfw-dev photos 1 with several faces, every face so much larger was the right person "
        "(the one whose other photos match).",
    )
    subject_centre_margin: float = Field(
        0.08,
        ge=0,
        description="In a photo with several faces, the face nearest the photo's centre is its "
        "subject when every other face's centre is farther from the photo's centre by this "
        "share of the photo's longer side, and none is more than 1.25 times its size. On "
        "lfw-dev's 64 photos with several faces the right person was always the most central "
        "face (at most 0.09 from the centre, at least 0.1 nearer than the next), but the largest "
        "only in 61. Group photos of two or three people side by side (0.01-0.04 apart) stay "
        "refused.",
    )
    same_face_distance: float = Field(
        0.35,
        ge=0,
        le=2,
        description="A face this near (embedding distance) a photo of another enrolled person "
        "is refused: one person under two ids, or two people the robot cannot tell apart, "
        "would be greeted as strangers (the ratio test) or by each other's name. lfw-dev (every "
        "photo, 1,184 people and 600 strangers): of 1.58 million pairs of different people, one "
        "pair is this near (0.17: Sharon and Kelly Osbourne, mother and daughter), 15 within "
        "0.40; of the same person's photos 18 % are within 0.35, a re-saved copy of one photo "
        "within 0.06.",
    )
    own_face_distance: float = Field(
        0.65,
        ge=0,
        le=2,
        description="A face farther than this from every photo already enrolled for the same "
        "person is refused as probably somebody else's: enrolled, that person would be greeted "
        "with this one's name. lfw-dev: of 6,941 pairs of the same person's photos (photos with "
        "one face), 0.43 % are farther apart (0.30 % beyond 0.70); of pairs of different "
        "people 96.6 % are.",
    )
    jitter: int = Field(
        0,
        ge=0,
        le=100,
        description="Extra randomly jittered copies averaged into each enrolled embedding. 10 "
        "makes enrolment ~10x slower for a slightly more robust embedding.",
    )
    workers: int = Field(
        0, ge=0, description="Processes that analyse photos in parallel; 0 means one per core."
    )


class RecognitionSettings(StrictModel):
    """Which face model names guests live (greeter.recognition)."""

    model: Literal["dlib", "sface"] = Field(
        "dlib",
        description="The model `greeter run` recognises guests with: dlib (HOG, 5 landmarks, "
        "ResNet; the default) or sface (OpenCV Zoo's SFace on dlib's faces, needing the files "
        "`greeter doctor` checks). Enrolment embeds every photo with both, so switching needs no "
        "re-enrolment (photos enrolled before both were installed have no SFace embedding: "
        "`greeter doctor` counts them). On lfw-dev through the track rule SFace named 93.7 % of "
        "guests at 300 people against dlib's 80.9 % (README, 'A second face model'); it costs "
        "the identity worker ~100 MB more memory. `greeter calibrate` calibrates this model "
        "(each model's calibration is kept apart); `greeter identify` uses dlib whatever this "
        "says.",
    )


class MatchingSettings(StrictModel):
    """When a face is given a name: a still photo (`threshold`, `ratio`) and a live track
    (`track_threshold`, `track_ratio`). Unset values come from the store's calibration
    (`greeter calibrate`) or, failing that, from greeter.recognition.matching.default_policy and
    default_track_policy, which depend on the number of enrolled people."""

    threshold: Optional[float] = Field(
        None, gt=0, le=2, description="Largest distance at which a face may be named."
    )
    ratio: Optional[float] = Field(
        None,
        gt=0,
        le=1,
        description="Largest ratio between the distance to the nearest person and to the "
        "nearest other person; 1 switches the ratio test off.",
    )
    track_threshold: Optional[float] = Field(
        None, gt=0, le=2,
        description="Largest distance at which the live robot names a track from the average of "
        "its embeddings (greeter.recognition.votes).",
    )
    track_ratio: Optional[float] = Field(
        None, gt=0, le=1, description="The ratio test for a track's average embedding."
    )


class TrackingSettings(StrictModel):
    """Following faces between detections and settling who each one is (greeter.live.tracking,
    greeter.recognition.votes)."""

    min_iou: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Smallest overlap (intersection over union) between a detected box and a "
        "track's last box for the box to continue that track.",
    )
    max_centre_shift: float = Field(
        0.6,
        ge=0,
        description="A box that overlaps no track still continues the nearest one when its centre "
        "moved at most this many widths of the track's box (a quick step sideways between two "
        "slow detections).",
    )
    lost_after_detections: int = Field(
        3,
        ge=1,
        description="A track ends once this many detections in a row missed it and it has not "
        "been seen for `lost_after_seconds`: both, so that neither fast nor slow detection ends "
        "the track of a guest who looks away for a moment.",
    )
    lost_after_seconds: float = Field(
        1.0, ge=0, description="See `lost_after_detections`."
    )
    forget_after_seconds: float = Field(
        10.0,
        gt=0,
        description="A track not seen for this long ends however few detections ran meanwhile: "
        "after recognition was paused, the face at the same place may be somebody else.",
    )
    embeddings_per_second: float = Field(
        10.0,
        gt=0,
        description="At most this many embeddings per second for one unsettled track; settled "
        "tracks are not embedded at all. 10 lets every detection (one each 0.1 s) vote, so "
        "a guest is named after two detections, ~0.1 s after being seen.",
    )
    recheck_seconds: float = Field(
        1.0,
        gt=0,
        description="A settled track's face is embedded again this often (and at once when it "
        "comes back after being missed or its size jumps), to find out whether it is still the "
        "same person's: guests queue at one spot. One embedding a second per face in view.",
    )
    split_distance: float = Field(
        0.55,
        gt=0,
        description="Two votes in a row this far from a track's average embedding are "
        "somebody else's face: the track ends and a new one starts. Measured by "
        "benchmarks/track_split.py: within one real pass (the Hamilton clip) at most 0.42; "
        "different lfw-dev people within 0.55: 0.18 % of pairs; one person's different lfw "
        "photos beyond it: 4.6 % (a pass shows one face, so far fewer).",
    )
    size_jump: float = Field(
        1.4,
        gt=1,
        description="A face whose width changes by more than this factor between two "
        "detections is checked again at once (another person stepping in is rarely the same "
        "size); the check, not the jump, decides.",
    )
    person_votes: int = Field(
        2,
        ge=2,
        description="Votes backing the same person (greeter.recognition.votes) before a track "
        "is named that person. At least 2, so that one frame can never put a name on a face.",
    )
    frame_margin: float = Field(
        0.08,
        ge=0,
        description="A vote backs its nearest person only within the track threshold plus this "
        "(the per-frame threshold): a frame of somebody else never counts for the name. 0.04 "
        "to 0.15 named the same share of simulated lfw-dev tracks "
        "(greeter.recognition.calibration).",
    )
    stranger_votes: int = Field(
        3, ge=1, description="Votes before a track whose average embedding is clearly nobody "
        "(see `stranger_margin`) is settled as a stranger. 2 would welcome strangers one "
        "embedding job sooner, but a guest whose first two frames were poor would be settled "
        "as a stranger for good: on simulated lfw-dev tracks whose third frame is the first "
        "new view, 1.2 (24 people) to 2.3 (300) points fewer guests were named, and no fewer "
        "strangers.",
    )
    stranger_margin: float = Field(
        0.03,
        ge=0,
        description="A track's average farther than the track threshold plus this is clearly "
        "nobody; nearer, the track waits for more votes (up to `max_votes`). 0 to 0.08 moved "
        "the share of simulated lfw-dev guests named by at most 1.5 points.",
    )
    far_stranger_margin: float = Field(
        0.10,
        ge=0,
        description="A track's average farther than the track threshold plus this is far from "
        "everybody: a stranger after `person_votes` votes, as soon as a guest would be named, "
        "rather than after `stranger_votes`. On simulated lfw-dev tracks (24 to 1,000 people) "
        "0.10 welcomed 77 % of the stranger tracks at 24 people (54 % at 100, 36 % at 300, 18 % "
        "at 1,000) one embedding job sooner, named no more strangers and nobody wrongly, and at "
        "most 0.1 points fewer guests when a track's third frame is the first new view (0.08: "
        "86 % of strangers sooner at 24 people, up to 0.2 points fewer guests; 0.06: up to 0.65).",
    )
    majority: float = Field(
        0.66,
        gt=0.5,
        le=1,
        description="Smallest share of a track's vote weight the named person must hold as the "
        "nearest person: conflicting votes delay settling rather than pick a name.",
    )
    max_votes: int = Field(
        8,
        ge=3,
        description="A track still undecided after this many votes is settled as a stranger: "
        "the default greeting is never a wrong name, and embedding stops.",
    )

    @model_validator(mode="after")
    def _enough_votes_to_win(self) -> "TrackingSettings":
        if self.max_votes < max(self.person_votes, self.stranger_votes):
            raise ValueError(
                f"max_votes ({self.max_votes}) must be at least person_votes "
                f"({self.person_votes}) and stranger_votes ({self.stranger_votes})"
            )
        return self

    @model_validator(mode="after")
    def _far_is_farther_than_clearly(self) -> "TrackingSettings":
        if self.far_stranger_margin < self.stranger_margin:
            raise ValueError(
                f"far_stranger_margin ({self.far_stranger_margin}) must be at least "
                f"stranger_margin ({self.stranger_margin})"
            )
        return self


class GreetingPolicySettings(StrictModel):
    """Who is greeted, and how often (greeter.live.policy)."""

    cooldown_seconds: float = Field(
        300.0,
        ge=0,
        description="A person is not greeted again within this many seconds of their last "
        "greeting, however often they walk in and out of view.",
    )


class ThrottleSettings(StrictModel):
    """Memory-aware throttling (greeter.live.throttle): normal, pressure and critical levels."""

    read_interval_seconds: float = Field(
        1.0, gt=0, description="Memory is read at most this often."
    )
    pressure_below: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="Memory pressure starts when less than this fraction of the RAM is "
        "available: detection slows down and shrinks (see `pressure`).",
    )
    critical_below: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Below this fraction of available RAM recognition pauses; the screen and "
        "the camera keep running.",
    )
    hysteresis: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="A level is left for a better one only once the available fraction is this "
        "much above the level's threshold, so memory hovering at a threshold does not switch "
        "levels every second.",
    )
    normal_detect_every_seconds: float = Field(
        0.1,
        ge=0,
        description="With memory to spare, faces are detected at most this often (in the "
        "frames' time: video time for files), on the first frame due; the tracker carries "
        "faces in between. Every 0.1 s a walking guest moves well under a face width, and a "
        "full-frame HOG scan (~40 ms for 640x360 here) on every frame of a 30 fps camera "
        "would cap the loop near 30 fps. Seconds, not frames: a 15 fps camera must not get "
        "detections further apart. 0 detects on every frame.",
    )
    normal_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="With memory to spare, frames are resized by this factor before detection. "
        "HOG finds faces from ~80 px, so faces smaller than 80 / scale pixels are missed.",
    )
    pressure_detect_every_seconds: float = Field(
        0.2,
        ge=0,
        description="Under memory pressure, faces are detected at most this often.",
    )
    pressure_scale: float = Field(
        0.75,
        gt=0,
        le=1,
        description="Under memory pressure, frames are resized by this factor before detection "
        "(a smaller image needs less memory and time).",
    )

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> "ThrottleSettings":
        if not self.critical_below < self.pressure_below:
            raise ValueError(
                f"critical_below ({self.critical_below}) must be below pressure_below "
                f"({self.pressure_below})"
            )
        if self.pressure_below + self.hysteresis >= 1:
            raise ValueError(
                f"pressure_below + hysteresis ({self.pressure_below} + {self.hysteresis}) must "
                "be below 1, or memory pressure could never end"
            )
        return self


class CameraSettings(StrictModel):
    """Frame sources (greeter.live.camera)."""

    reconnect_first_delay: float = Field(
        0.5,
        gt=0,
        description="Seconds before the first attempt to reopen a lost camera or stream; the "
        "delay doubles after each failed attempt.",
    )
    reconnect_max_delay: float = Field(
        10.0, gt=0, description="Longest wait between two attempts to reopen a lost camera."
    )
    csi_sensor_width: int = Field(
        1280, ge=16, description="Sensor mode of the CSI camera (`csi://N`): width."
    )
    csi_sensor_height: int = Field(720, ge=16, description="Sensor mode of the CSI camera: height.")
    csi_fps: int = Field(30, ge=1, description="Sensor mode of the CSI camera: frames per second.")
    csi_output_width: int = Field(
        960,
        ge=16,
        description="Width of the frames the CSI camera hands out (resized on the Jetson's "
        "hardware converter, for free).",
    )
    csi_output_height: int = Field(
        540, ge=16, description="Height of the frames the CSI camera hands out."
    )
    csi_flip_method: int = Field(
        0,
        ge=0,
        le=7,
        description="nvvidconv flip-method for a camera mounted rotated: 0 none, 2 rotate 180, "
        "4 horizontal flip, 6 vertical flip (1, 3, 5, 7: quarter turns and transposes).",
    )
    image_seconds: float = Field(
        2.0,
        gt=0,
        description="A folder of images is played as a camera would see each person standing "
        "in front of it for this long: the image repeated at `image_frame_rate` (in real time "
        "with --realtime). 2 s: a guest is named within ~0.3 s of a clear face and a stranger "
        "within ~0.5 s (the README's benchmarks), and the screen holds each greeting long "
        "enough to read it (greeter.live.pictures.MIN_READ_SECONDS). Was one frame per image: "
        "a name needs two votes, so nobody was named.",
    )
    image_frame_rate: float = Field(
        10.0,
        gt=0,
        description="Frames per second of a folder of images (every frame a detection at the "
        "default pace of one each 0.1 s).",
    )


class UiSettings(StrictModel):
    """The screen (greeter.screen.display): timing, sizes as fractions of the screen."""

    greeting_seconds: float = Field(
        6.0, gt=0, description="How long a greeting stays on screen, fades included."
    )
    fade_in_seconds: float = Field(0.4, ge=0, description="A greeting fades in over this time.")
    fade_out_seconds: float = Field(
        0.8, ge=0, description="A greeting fades out over the end of its time on screen."
    )
    idle_after_seconds: float = Field(
        10.0,
        ge=0,
        description="The idle screen is shown once nobody has been in view for this long.",
    )
    max_greetings: int = Field(
        4,
        ge=1,
        description="At most this many greetings are shown at once, the newest; others wait "
        "off screen until they expire. 4: a group at the door; at 800x480 each gets a row of "
        "71 px, letters of 24 px or more.",
    )
    greeting_text_height: float = Field(
        0.12,
        gt=0,
        le=0.5,
        description="Height of a greeting's letters as a fraction of the screen height (shrunk "
        "when a long greeting or several greetings would not fit).",
    )
    text_height: float = Field(
        0.05,
        gt=0,
        le=0.5,
        description="Height of the host's values text as a fraction of the screen height; the "
        "title is twice as tall.",
    )
    camera_inset_width: float = Field(
        0.25,
        ge=0,
        le=0.5,
        description="Width of the live camera picture in the lower-right corner as a fraction "
        "of the screen width; 0 hides it.",
    )

    @model_validator(mode="after")
    def _fades_fit(self) -> "UiSettings":
        if self.fade_in_seconds + self.fade_out_seconds > self.greeting_seconds:
            raise ValueError(
                f"fade_in_seconds + fade_out_seconds ({self.fade_in_seconds} + "
                f"{self.fade_out_seconds}) must not exceed greeting_seconds "
                f"({self.greeting_seconds})"
            )
        return self


class ServerAddress(str):
    """A PostgreSQL server's store, as libpq's URL:
    ``postgresql://USER@HOST[:PORT]/DB[?PARAMETERS]``.

    The password never sits in the URL (a command line or a unit file is readable by every
    user of the machine, ``ps`` shows it): libpq reads it from the file named by ``passfile=``
    (mode 0600), ``PGPASSFILE`` or ``~/.pgpass``, lines of ``host:port:db:user:password``.
    TLS is libpq's ``sslmode``: ``require`` encrypts, ``verify-full`` also checks the server's
    certificate against ``sslrootcert=`` (the venue's CA); on a network the event does not own,
    use ``verify-full``.
    """

    SCHEMES = ("postgresql", "postgres")

    @classmethod
    def parse(cls, text: str) -> "ServerAddress":
        """The address in `text`, or `ValueError` saying what is wrong with it."""
        url = urllib.parse.urlsplit(text)
        if url.scheme not in cls.SCHEMES:
            raise ValueError(
                f"a {url.scheme}:// URL is not a store: give an SQLite file's path or a "
                "postgresql://USER@HOST/DB address")
        if url.password is not None:
            raise ValueError(
                "the store's address holds a password, which every user of this machine can "
                "read on a command line: put it in a 0600 file named by passfile= (or in "
                "~/.pgpass) as host:port:database:user:password")
        if not url.hostname or not url.username or not url.path.strip("/"):
            raise ValueError("a server store needs a user, a host and a database: "
                             "postgresql://USER@HOST[:PORT]/DB")
        return cls(text)

    @property
    def database(self) -> str:
        return urllib.parse.urlsplit(self).path.strip("/")

    @property
    def host(self) -> str:
        url = urllib.parse.urlsplit(self)
        return f"{url.hostname}:{url.port or 5432}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def already_parsed(value: Any) -> "ServerAddress":
            if isinstance(value, ServerAddress):
                return value
            raise ValueError("not a server address")

        return core_schema.no_info_plain_validator_function(
            already_parsed, serialization=core_schema.to_string_ser_schema())


class Settings(StrictModel):
    """All of greeter's settings."""

    store: Union[ServerAddress, Path] = Field(
        Path("data/greeter.sqlite3"),
        description="Where enrolled people and embeddings are kept: an SQLite file (one robot) "
        "or a PostgreSQL server shared by several robots, "
        "``postgresql://USER@HOST[:PORT]/DB[?sslmode=verify-full&passfile=FILE]`` "
        "(see `ServerAddress`).")
    local: Path = Field(
        Path("data"),
        description="This machine's own files when the store is a server: the snapshot the "
        "robot greets from during an outage, its status, the console's password. With a store "
        "file they sit beside it and this is not used.")
    robot_name: str = Field(
        default_factory=lambda: socket.gethostname() or "robot", min_length=1, max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="How the console's Robots page and door requests name this robot, among "
        "the robots of a shared store (default: the machine's host name).")
    greetings: Path = Field(
        Path("config/greetings.json"), description="What the robot says to whom."
    )
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    enrolment: EnrolmentSettings = Field(default_factory=EnrolmentSettings)
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    greeting_policy: GreetingPolicySettings = Field(default_factory=GreetingPolicySettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    camera: CameraSettings = Field(default_factory=CameraSettings)
    ui: UiSettings = Field(default_factory=UiSettings)

    @field_validator("store", mode="before")
    @classmethod
    def _a_file_or_a_server(cls, value: Any) -> Any:
        """A URL is never taken for a file name (``postgresql://robot@venue/guests`` once made
        a folder named ``postgresql:``). A ``//`` reads as ``/`` once a path, hence one slash."""
        url = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):/", str(value))
        if url:
            return ServerAddress.parse(str(value))
        return value

    @property
    def local_folder(self) -> Path:
        """Where this machine keeps its own files: the store file's folder, or `local` when the
        store is a server."""
        return self.local if isinstance(self.store, ServerAddress) else Path(self.store).parent

    @classmethod
    def load(
        cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any
    ) -> "Settings":
        """Defaults, then ``GREETER_*`` variables of `environ` (the process environment by
        default), then `overrides`: whole top-level settings, None values skipped.

        A variable named like no setting (``GREETER_BUILD_JOBS``) is ignored with a warning, so
        that another program's variable never stops greeter; a misspelt field inside a section
        (``GREETER_MATCHING__THRESHLD``) is an error, like any invalid value."""
        environ = os.environ if environ is None else environ
        for name in unknown_variables(environ):
            log.warning("%s is not a greeter setting: ignored", name)
        values = environment_values(cls, environ)
        values.update((key, value) for key, value in overrides.items() if value is not None)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{_variable_name(problem['loc'])}: {problem['msg']}" for problem in error.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None


def unknown_variables(environ: Mapping[str, str]) -> List[str]:
    """The ``GREETER_*`` variables of `environ` that name no setting, sorted."""
    return sorted(name for name, path, _ in _greeter_variables(environ)
                  if path[0] not in Settings.model_fields)


def _variable_name(path: Sequence[Union[str, int]]) -> str:
    """The variable for the setting at `path`: ``("matching", "threshold")`` is
    ``GREETER_MATCHING__THRESHOLD``."""
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in path).upper()


def environment_values(model: Type[BaseModel], environ: Mapping[str, str]) -> Dict[str, Any]:
    """The ``GREETER_*`` variables of `environ` as the nested dict of values that `model`
    validates, read as pydantic-settings read them.

    A variable's name without the prefix, lowercased and split at ``__``, is its field path (of
    names differing only in case, the last counts). The value of a section, or of a list, tuple,
    set or dict field, is JSON (a section's keys case-insensitive, like the names), and a
    section given as JSON null keeps its defaults; any other value stays text for pydantic to
    convert. A variable of a section's field wins over the section given whole. Empty variables,
    and those naming no field of `model`, are left out. Raises ConfigError for a value that is
    not JSON, and for a variable below a value that has no fields (``GREETER_STORE=a`` with
    ``GREETER_STORE__B=c``), which pydantic-settings ignored when it did not fail."""
    texts = {  # by path: of names differing only in case, the last counts
        path: text for _, path, text in _greeter_variables(environ)
        if path[0] in model.model_fields
    }
    values: Dict[str, Any] = {}
    # Shorter paths first, so that a section given whole is there for its fields' variables to
    # be put into.
    for path in sorted(texts, key=len):
        field_type = _type_at(model, path)
        _put(values, path,
             _json_value(path, texts[path], field_type) if _takes_json(field_type)
             else texts[path])
    return {field: value for field, value in values.items() if value is not None}


def _greeter_variables(
    environ: Mapping[str, str],
) -> Iterator[Tuple[str, Tuple[str, ...], str]]:
    """Name, field path and value of each non-empty ``GREETER_*`` variable of `environ`."""
    for name, text in environ.items():
        if text and name.upper().startswith(ENV_PREFIX):
            yield name, tuple(name[len(ENV_PREFIX):].lower().split(NESTED_DELIMITER)), text


def _type_at(model: Type[BaseModel], path: Sequence[str]) -> Any:
    """The type of the field at `path` in `model`, or None if there is no such field."""
    field_type: Any = model
    for name in path:
        fields = field_type.model_fields if _is_section(field_type) else {}
        if name not in fields:
            return None
        field_type = fields[name].annotation
    return field_type


def _is_section(field_type: Any) -> bool:
    """Whether `field_type` is a model, with fields of its own, like `Settings` and its sections."""
    return isinstance(field_type, type) and issubclass(field_type, BaseModel)


def _takes_json(field_type: Any) -> bool:
    """Whether a field of this type is given as JSON, by pydantic-settings' rule: a section, a
    list, tuple, set or dict, optional or not (a string is a sequence too, but given as is)."""
    if get_origin(field_type) is Union:
        return any(_takes_json(member) for member in get_args(field_type))
    kind = get_origin(field_type) or field_type
    return (
        isinstance(kind, type)
        and not issubclass(kind, (str, bytes))
        and issubclass(kind, (BaseModel, collections.abc.Mapping, collections.abc.Sequence,
                              collections.abc.Set))
    )


def _json_value(path: Sequence[str], text: str, field_type: Any) -> Any:
    """`text`, given for the field at `path`, of `field_type`, decoded as JSON."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigError(
            f"invalid settings: {_variable_name(path)}: not valid JSON ({error})") from None
    return _field_names_lowercased(value, field_type)


def _field_names_lowercased(value: Any, field_type: Any) -> Any:
    """`value` with the keys of each section in it lowercased: they match field names
    case-insensitively, like variable names, and greeter's field names are lowercase."""
    if not (_is_section(field_type) and isinstance(value, dict)):
        return value
    return {
        key.lower(): _field_names_lowercased(item, _type_at(field_type, [key.lower()]))
        for key, item in value.items()
    }


def _put(values: Dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Sets `value` at `path` in the nested dict `values`, making the sections on the way."""
    parent = values
    for depth in range(1, len(path)):
        parent = parent.setdefault(path[depth - 1], {})
        if not isinstance(parent, dict):
            raise ConfigError(
                f"invalid settings: {_variable_name(path)}: {_variable_name(path[:depth])} is "
                f"{json.dumps(parent)}, which has no fields")
    parent[path[-1]] = value
