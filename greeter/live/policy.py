"""Who is greeted now. Pure: settled tracks and the time (seconds, any monotonic clock) in,
greeting decisions out.

* A track is decided once, when its identity is settled: greeted, or not.
* A person is greeted unless they were greeted less than `cooldown_seconds` ago: walking out
  of view and back, or a tracker that lost and found the face again, does not repeat
  "Welcome back, Alex!" every few seconds. Within the cooldown they are acknowledged instead
  (`GreetingDue.again`): the screen greets them as before, but no new greeting is recorded,
  spoken or counted.
* Several people settled at the same time are each greeted.
* A stranger gets the default greeting once per track (strangers have no identity to keep a
  cooldown for); strangers share one visit count, so the stranger messages take turns.

Memory stays flat over a day: what is kept per person is bounded by the people enrolled, and
decided tracks are forgotten once the tracker has ended them (track ids are never reused).
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set

from greeter.live.tracking import Track
from greeter.settings import GreetingPolicySettings


@dataclass(frozen=True)
class GreetingDue:
    """A decision to greet the face of track `track_id` at time `at`.

    `person` is None for a stranger. `visit` counts this person's greetings since start,
    this one included (1 on the first), for messages that change with each visit; for a
    stranger it counts the greetings of all strangers. `again`: the person was greeted within
    the cooldown (`visit` is that greeting's): shown, not recorded.
    """

    track_id: int
    person: Optional[str]
    at: float
    visit: Optional[int]
    again: bool = False


class GreetingPolicy:
    """Remembers whom it greeted and when, and decides the greetings for settled tracks."""

    def __init__(self, settings: GreetingPolicySettings):
        self.settings = settings
        self._decided_tracks: Set[int] = set()
        self._last_greeted: Dict[str, float] = {}
        self._visits: Dict[str, int] = {}
        self._stranger_visits = 0

    def decide(self, tracks: Iterable[Track], now: float) -> List[GreetingDue]:
        """The greetings due now among `tracks` (all the live tracks), in track order;
        unsettled tracks wait. Tracks no longer among `tracks` are forgotten."""
        tracks = sorted(tracks, key=lambda track: track.id)
        self._decided_tracks.intersection_update(track.id for track in tracks)
        greetings: List[GreetingDue] = []
        for track in tracks:
            if track.identity is None or track.id in self._decided_tracks:
                continue
            self._decided_tracks.add(track.id)
            person = track.identity.person
            if person is None:
                self._stranger_visits += 1
                greetings.append(GreetingDue(track.id, None, now, self._stranger_visits))
            elif not self.in_cooldown(person, now):
                self._last_greeted[person] = now
                self._visits[person] = self._visits.get(person, 0) + 1
                greetings.append(GreetingDue(track.id, person, now, self._visits[person]))
            else:
                greetings.append(GreetingDue(track.id, person, now, self._visits[person],
                                             again=True))
        return greetings

    def in_cooldown(self, person: str, now: float) -> bool:
        """True when the person was greeted less than `cooldown_seconds` before `now`."""
        last = self._last_greeted.get(person)
        return last is not None and now - last < self.settings.cooldown_seconds

    def visits(self, person: str) -> int:
        """How many times the person was greeted since start."""
        return self._visits.get(person, 0)
