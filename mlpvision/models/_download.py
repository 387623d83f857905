"""Released weights fetched for ``pretrained=True``, checked before they are used or kept in the cache.

timm's ``download_cached_file`` keeps whatever a server answers under the cached file name and reuses it forever,
so a Google Drive confirmation or quota page would be read as a broken checkpoint on every later call. Here each
source (the Hugging Face hub through ``huggingface_hub``, a plain URL, a Google Drive file, a Cloud Storage
object) ends with a file in timm's cache that is a checkpoint of the expected kind (``checkpoint_problem``: whole
header, whole archive, as many bytes as announced), or with a ``WeightsDownloadError`` whose one line says what
came back, the address to fetch by hand and where to put the file. A download goes to a temporary file that
replaces the cache entry only once checked; a bad file left in the cache by an earlier failure is recognised and
fetched again. Google Drive's confirmation form (large files) is followed with ``gdown``'s parser of that form.
"""

import logging
import os
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from gdown.download import get_url_from_gdrive_confirmation
from gdown.exceptions import FileURLRetrievalError
from timm.models import resolve_pretrained_cfg
from timm.models._hub import get_cache_dir, hf_split
from tqdm.auto import tqdm

from ._weights import checkpoint_problem, describe_html

_logger = logging.getLogger(__name__)

# Hosts whose HTML answers may be Google Drive's download confirmation (tests add their loopback server's).
DRIVE_HOSTS = {"drive.google.com", "drive.usercontent.google.com", "docs.google.com"}
# The hub address for huggingface_hub (None: its default, or the HF_ENDPOINT environment variable).
HF_ENDPOINT: str | None = None
# huggingface_hub's cache folder (None: its default, HF_HUB_CACHE)
HF_CACHE_DIR: str | None = None
# (connect, read) seconds: a stalled server fails instead of hanging a training script.
TIMEOUT = (30.0, 120.0)
_CHUNK = 1 << 20


class WeightsDownloadError(ValueError):
    """A weight download that did not end with a checkpoint: what came back, where to fetch it, where to put it."""


def google_drive_url(file_id: str, filename: str) -> tuple[str, str]:
    """A Google Drive file as a ``pretrained_cfg`` ``url``: Drive's download address and the file name it is
    cached under (Drive's address has none). Large files answer with a confirmation form, which is followed."""
    return f"https://drive.google.com/uc?export=download&id={file_id}", filename


def _is_drive(url: str) -> bool:
    return urllib.parse.urlparse(url).hostname in DRIVE_HOSTS


def _page(url: str) -> str:
    """The address a person opens to fetch ``url`` by hand (Drive's file page rather than its download API)."""
    if _is_drive(url):
        file_id = urllib.parse.parse_qs(urllib.parse.urlparse(url).query).get("id", [""])[0]
        if file_id:
            return f"https://drive.google.com/file/d/{file_id}/view"
    return url


def _failure(what: str, url: str, answer: str, target: Path | None) -> WeightsDownloadError:
    place = f"save it as {target}, or pass" if target is not None else "pass"
    return WeightsDownloadError(
        f"{what}: {url} {answer}; fetch {_page(url)} by hand and {place} pretrained_cfg_overlay=dict(file=PATH)"
    )


def _stream(url: str, handle, what: str, target: Path) -> None:
    """Write the file at ``url`` to ``handle``, following Drive's confirmation form; refuse HTML and short bodies."""
    with requests.Session() as session:
        for _ in range(3):  # the file, or a confirmation form leading to it (Drive asks once for large files)
            try:
                response = session.get(url, stream=True, timeout=TIMEOUT)
            except requests.RequestException as error:
                raise _failure(what, url, f"could not be reached ({type(error).__name__})", target) from error
            with response:
                if response.status_code >= 400:
                    raise _failure(what, url, f"answered HTTP {response.status_code} {response.reason}", target)
                if response.headers.get("Content-Type", "").startswith("text/html"):
                    text = response.text
                    answer = describe_html(text.encode(errors="replace"))
                    if _is_drive(url) and "confirmation" in answer:
                        try:
                            url = get_url_from_gdrive_confirmation(text)
                            continue
                        except FileURLRetrievalError:
                            pass
                    raise _failure(what, url, f"answered {answer} instead of the file", target)
                _copy_body(response, handle, url, what, target)
                return
        raise _failure(what, url, "kept answering Google Drive's download confirmation page", target)


def _copy_body(response: requests.Response, handle, url: str, what: str, target: Path) -> None:
    """The body to ``handle`` with a progress bar; a body shorter than its Content-Length is refused."""
    announced = response.headers.get("Content-Length")
    length = int(announced) if announced and response.headers.get("Content-Encoding") in (None, "identity") else None
    received = 0
    with tqdm(total=length, unit="B", unit_scale=True, desc=target.name, disable=None, leave=False) as bar:
        try:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except requests.RequestException as error:  # urllib3 raises IncompleteRead when the server stops early
            announced_part = f"the {length:,} bytes it announced" if length else "the end of the file"
            raise _failure(what, url, f"closed the connection before {announced_part} (the transfer was cut short)",
                           target) from error
    if length is not None and received != length:
        raise _failure(what, url, f"sent {received:,} of the {length:,} bytes it announced", target)


def _checked(path: Path, kind: str) -> str | None:
    return checkpoint_problem(path, thorough=True, kind=kind)


def fetch_url(url: str, filename: str, what: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """``url`` as ``filename`` in timm's cache (``cache_dir`` to override), downloaded and checked if need be."""
    cache = Path(cache_dir) if cache_dir else Path(get_cache_dir())
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / filename
    kind = Path(filename).suffix
    if target.exists():
        problem = _checked(target, kind)
        if problem is None:
            return target
        _logger.warning("%s %s (left by an earlier download); fetching it again from %s", target, problem, url)
        target.unlink()
    handle, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _stream(url, out, what, target)
        problem = _checked(tmp, kind)
        if problem:
            raise _failure(what, url, f"sent a file that {problem}", target)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch_from_hub(hub_id: str, filename: str, what: str) -> Path:
    """``filename`` of the hub repository ``hub_id`` (``org/name[@revision]``) in huggingface_hub's cache, checked;
    a bad cached copy is downloaded again once."""
    from huggingface_hub import hf_hub_download

    repo_id, revision = hf_split(hub_id)
    url = f"https://huggingface.co/{repo_id}/resolve/{revision or 'main'}/{filename}"
    kind = Path(filename).suffix
    for force in (False, True):
        try:
            path = Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=HF_ENDPOINT,
                                        cache_dir=HF_CACHE_DIR, force_download=force))
        except Exception as error:  # huggingface_hub raises HTTP, offline and consistency errors of many types
            first_line = next(iter(str(error).strip().splitlines()), type(error).__name__)
            raise _failure(what, url, f"could not be fetched ({first_line})", None) from error
        problem = _checked(path, kind)
        if problem is None:
            return path
        _logger.warning("%s %s; fetching it again from %s", path, problem, url)
        Path(os.path.realpath(path)).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
    raise _failure(what, url, f"sent a file that {problem}", None)


def fetch_pretrained(cfg: Mapping[str, Any]) -> Path | None:
    """A local, checked file for ``cfg``'s weights: its ``file``, else the hub's copy, else its ``url``.

    The hub is tried first when the cfg names it (as timm does); if it cannot be reached and the cfg also has the
    authors' URL, that is fetched instead. ``None``: the cfg names no weights.
    """
    what = f"weights of {cfg.get('architecture')}.{cfg.get('tag')}"
    if cfg.get("file"):
        return Path(cfg["file"])
    if cfg.get("hf_hub_id"):
        try:
            return fetch_from_hub(cfg["hf_hub_id"], cfg.get("hf_hub_filename") or "model.safetensors", what)
        except WeightsDownloadError as error:
            if not cfg.get("url"):
                raise
            _logger.warning("%s; trying the authors' address %s", error, cfg["url"])
    url = cfg.get("url")
    if not url:
        return None
    url, filename = url if isinstance(url, tuple | list) else (url, os.path.basename(urllib.parse.urlparse(url).path))
    return fetch_url(url, filename, what)


def pretrained_overlay(
        variant: str, pretrained_cfg: Any = None, overlay: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """``overlay`` with ``file`` set to the fetched, checked weights of ``variant``'s cfg (what timm then loads)."""
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg=pretrained_cfg, pretrained_cfg_overlay=overlay).to_dict()
    path = fetch_pretrained(cfg)
    if path is None:
        return dict(overlay) if overlay else None
    return {**(overlay or {}), "file": str(path), "custom_load": "hf"}
