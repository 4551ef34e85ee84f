"""Erasing a person: everything greeter holds about them, wherever it is.

Guests are in the EU; a person asking to be forgotten is erased from

* the store: their embeddings and their name (`Store.remove`: secure delete, journal
  truncated);
* the greetings file: their entry, with their name and messages (`remove_greeting`);
* the door channel: a pending "enrol at the door" request or its result, which hold their name
  (`door.forget`).

The running robot drops them at its next store reload (a second later) from the status file it
publishes, from the events file and the screenshots it was asked to keep (their lines are
removed, their screenshots deleted: `greeter.live.outputs.Output.forget`), and from its memory with
the tracks that saw them. A robot that was off when they were erased does the same as it
starts with that store; this function cannot, as only the robot knows where its outputs go.

The CLI (`greeter people remove`), the console's page and its API all erase through
`erase_person`, so the three can never erase different things.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from greeter.errors import ConfigError
from greeter.greetings.edit import remove_greeting
from greeter.people import door
from greeter.people.store import StoreBase


@dataclass(frozen=True)
class Erasure:
    """What `erase_person` erased."""

    person_id: str
    embeddings: int
    greetings_path: Path
    greeting_removed: bool
    #: Why the greeting could not be removed (an invalid greetings file), else None: the rest
    #: is erased regardless, and the caller tells the admin what is left to do.
    greeting_problem: Optional[str]
    door_files: int

    def summary(self) -> str:
        """One line for staff, who think in photos: an embedding is what is kept of one."""
        count = self.embeddings
        text = f"removed {self.person_id} and their {count} photo{'s' if count != 1 else ''}"
        if self.greeting_removed:
            text += f"; removed {self.person_id}'s greeting from {self.greetings_path}"
        return text


def erase_person(store: StoreBase, greetings_path: Union[str, Path], person_id: str) -> Erasure:
    """Erase `person_id` everywhere; `StoreError` (nothing erased) if nobody is enrolled under
    it or the store refuses the change."""
    embeddings = store.remove(person_id)
    door_files = door.forget(store.door(None), person_id)
    try:
        removed, problem = remove_greeting(greetings_path, person_id,
                                           store.greetings_home()), None
    except ConfigError as error:
        removed, problem = False, (
            f"{error}\n{person_id}'s greeting is still in {greetings_path}: fix the file, then "
            f"run `greeter greetings remove {person_id}`")
    return Erasure(person_id, embeddings, Path(greetings_path), removed, problem, door_files)
