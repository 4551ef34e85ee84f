"""Reading form posts in memory, within limits.

Starlette's own form parser spools uploads larger than 1 MB to a temporary file; a guest's
photo must never touch the disk, so forms are read here with python-multipart's streaming
parser into memory, and every limit is enforced while the body arrives: a request stops at the
first byte over a limit, with `TooLarge` (answered 413), and a body that arrives too slowly
stops at its deadline, with `TooSlow` (answered 408). Nothing is parsed before its size is
known to be within the limits: a urlencoded body is read whole (at most `Limits.form_bytes`)
before it is split into fields, a multipart one part by part.
"""

import asyncio
from dataclasses import dataclass, replace
from typing import AsyncIterator, Dict, List, Optional
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

MB = 1024 * 1024
#: The only form type that carries files.
MULTIPART = "multipart/form-data"


#: The longest boundary a multipart body may declare (RFC 2046); python-multipart's parser
#: failed outside its own error handling on longer ones.
MAX_BOUNDARY = 70


@dataclass(frozen=True)
class Limits:
    """What one request may carry, and how slowly. 20 phone photos of up to 20 MB each would be
    400 MB held in memory on a robot with 4 GB shared with the camera loop, so the whole request
    is capped lower than the sum."""

    photo_bytes: int = 20 * MB
    photos: int = 20
    request_bytes: int = 100 * MB
    field_bytes: int = 64 * 1024
    fields: int = 50
    #: A form without files (urlencoded): the console's largest, a person's greeting with
    #: their messages, is under 10 KB; 1 MB leaves room and keeps the parse cheap (``parse_qsl``
    #: took ~9x the body's size in memory, measured: 10 MB of ``%41`` cost 820 MB).
    form_bytes: int = 1 * MB
    #: The whole body must arrive within `body_seconds`, without a pause longer than
    #: `pause_seconds`: 100 MB at 3 Mbit/s (a phone on a busy event Wi-Fi) takes ~270 s.
    body_seconds: float = 300.0
    pause_seconds: float = 30.0

    def for_sign_in(self) -> "Limits":
        """The sign-in form's limits, the only form read before anybody signs in: three short
        fields (the form's token, the password, where to go next), no files, and seconds, not
        minutes. 16 KB holds a 4,000-character password percent-encoded three times over."""
        return replace(self, photo_bytes=0, photos=0, request_bytes=16 * 1024,
                       field_bytes=4 * 1024, fields=8, form_bytes=16 * 1024,
                       body_seconds=10.0, pause_seconds=5.0)


class TooLarge(Exception):
    """A request over a limit; the message says which, for a person to read."""


class BadForm(Exception):
    """A body that is not the form it claims to be."""


class TooSlow(Exception):
    """A body that did not arrive in time; the message says how long it may take."""


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    data: bytes


@dataclass
class Form:
    fields: Dict[str, str]
    files: List[Upload]

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def media_type(request: Request) -> str:
    """The request's Content-Type without its options, in lower case; empty without one."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    return content_type.decode("latin-1")


async def read_form(request: Request, limits: Limits) -> Form:
    """The request's form fields and files (multipart or urlencoded), all in memory."""
    declared = request.headers.get("content-length", "")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    multipart = content_type == MULTIPART.encode()
    cap = limits.request_bytes if multipart else min(limits.request_bytes, limits.form_bytes)
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge(_request_too_large(limits, multipart))
    if multipart:
        boundary = options.get(b"boundary")
        if not boundary:
            raise BadForm("multipart form without a boundary")
        if len(boundary) > MAX_BOUNDARY:
            raise BadForm(f"a multipart boundary longer than {MAX_BOUNDARY} characters")
        return await _read_multipart(request, boundary, limits)
    body = await _read_body(request, cap, limits)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=limits.fields)
    except (UnicodeDecodeError, ValueError):
        raise BadForm("form fields are not UTF-8 form data") from None
    if any(len(value) > limits.field_bytes for _, value in pairs):
        raise TooLarge(f"a form field is larger than {limits.field_bytes // 1024} KB")
    return Form(dict(pairs), [])


async def _read_body(request: Request, cap: int, limits: Limits) -> bytes:
    chunks = []
    size = 0
    async for chunk in _arriving(request, limits):
        size += len(chunk)
        if size > cap:
            raise TooLarge(_request_too_large(limits, multipart=False))
        chunks.append(chunk)
    return b"".join(chunks)


async def _arriving(request: Request, limits: Limits) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, within `Limits.body_seconds` and without a pause
    longer than `Limits.pause_seconds` (`TooSlow`)."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + limits.body_seconds
    chunks = request.stream().__aiter__()
    while True:
        wait = min(limits.pause_seconds, deadline - loop.time())
        try:
            if wait <= 0:
                raise asyncio.TimeoutError
            chunk = await asyncio.wait_for(chunks.__anext__(), wait)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise TooSlow(f"the form did not arrive within {limits.body_seconds:g} s (or "
                          f"paused for {limits.pause_seconds:g} s): try again on a better "
                          "connection, or with fewer photos") from None
        except ClientDisconnect:
            raise BadForm("the browser stopped sending the form") from None
        yield chunk


def _request_too_large(limits: Limits, multipart: bool = True) -> str:
    if not multipart:
        cap = min(limits.request_bytes, limits.form_bytes)
        return f"the form is larger than {max(1, cap // 1024)} KB"
    return (f"the request is larger than {limits.request_bytes // MB} MB: send fewer or "
            "smaller photos at a time")


class _MultipartCollector:
    """Callbacks of python-multipart's parser, building the form part by part."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.form = Form({}, [])
        self._headers: Dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._name: Optional[str] = None
        self._filename: Optional[str] = None
        self._data = bytearray()

    def callbacks(self):
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(
                data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(
                data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()
        self._name = None
        self._filename = None

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise BadForm("a form part without a name")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self._filename = options[b"filename"].decode("utf-8", "replace")
            if len(self.form.files) >= self.limits.photos:
                raise TooLarge(f"more than {self.limits.photos} files in one request: send "
                               "them in several")
        elif len(self.form.fields) >= self.limits.fields:
            raise TooLarge(f"more than {self.limits.fields} form fields")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.extend(data[start:end])
        if self._filename is not None and len(self._data) > self.limits.photo_bytes:
            raise TooLarge(f"{self._filename} is larger than {self.limits.photo_bytes // MB} "
                           "MB: send a smaller photo")
        if self._filename is None and len(self._data) > self.limits.field_bytes:
            raise TooLarge(f"the form field {self._name} is larger than "
                           f"{self.limits.field_bytes // 1024} KB")

    def _part_end(self) -> None:
        if self._name is None:
            return
        if self._filename is None:
            try:
                self.form.fields[self._name] = self._data.decode("utf-8")
            except UnicodeDecodeError:
                raise BadForm(f"the form field {self._name} is not UTF-8") from None
        elif self._filename or self._data:  # a file input left empty sends a nameless nothing
            self.form.files.append(Upload(self._name, self._filename, bytes(self._data)))
        self._data = bytearray()


async def _read_multipart(request: Request, boundary: bytes, limits: Limits) -> Form:
    collector = _MultipartCollector(limits)
    size = 0
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in _arriving(request, limits):
            size += len(chunk)
            if size > limits.request_bytes:
                raise TooLarge(_request_too_large(limits))
            parser.write(chunk)
        parser.finalize()
    except (TooLarge, BadForm, TooSlow):
        raise
    except Exception as error:  # python-multipart's own errors: a malformed body
        raise BadForm(f"malformed multipart form ({type(error).__name__})") from None
    return collector.form
