"""``pretrained=True`` downloads, served by an HTTP server on 127.0.0.1 that each test starts (never the internet).

The server plays Google Drive (a confirmation form first, then the file; a quota page), a server that stops
before the announced length, one that sends a truncated checkpoint, and a correct one. Every case ends with the
model loaded from a checked file in the cache, or with one line saying what came back, the address to fetch by
hand and where to put the file, and nothing left in the cache.
"""

import http.server
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from mlpvision.models import _download, save_weights
from mlpvision.models._download import WeightsDownloadError

from ..conftest import noise_logits, randomize_, tiny_kwargs, tiny_model

NAME = "mlpv_vip_s7"  # the authors' weights are on Google Drive
QUOTA_TEXT = "Too many users have viewed or downloaded this file recently. Please try accessing the file again later."


class _Server(http.server.ThreadingHTTPServer):
    """Answers each ``path?query`` from ``routes``: (status, headers, body, announced length or None)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, tuple[int, dict[str, str], bytes, int | None]] = {}
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, with_body: bool) -> None:
        self.server.requests.append(self.path)
        parsed = urllib.parse.urlsplit(self.path)
        query = "&".join(sorted(parsed.query.split("&"))) if parsed.query else ""
        route = self.server.routes.get(f"{parsed.path}?{query}" if query else parsed.path)
        if route is None:
            self.send_error(404)
            return
        status, headers, body, announced = route
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(announced if announced is not None else len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802 (huggingface_hub asks for a file's metadata first)
        self._answer(with_body=False)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback server that counts as a Google Drive host; timm's cache (TORCH_HOME) inside ``tmp_path``."""
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(_download, "DRIVE_HOSTS", {*_download.DRIVE_HOSTS, "127.0.0.1"})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _cache() -> Path:
    return Path(timm.models._hub.get_cache_dir())


def _checkpoint(tmp_path: Path) -> tuple[torch.nn.Module, bytes]:
    """A tiny ViP and its ``torch.save`` file in the authors' training-script form (weights under ``state_dict``)."""
    model = randomize_(tiny_model(NAME)).eval()
    path = tmp_path / "source.pth"
    torch.save({"epoch": 299, "state_dict": model.state_dict()}, path)
    return model, path.read_bytes()


def _file(body: bytes) -> tuple[int, dict[str, str], bytes, None]:
    return 200, {"Content-Type": "application/octet-stream",
                 "Content-Disposition": 'attachment; filename="vip_s7.pth"'}, body, None


def _html(text: str) -> tuple[int, dict[str, str], bytes, None]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, text.encode(), None


def _confirmation_page(base: str, file_id: str) -> str:
    """Drive's answer for a large file: a virus-scan warning whose form (one line, as Drive sends it) leads on."""
    return (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
        "<p>Google Drive can't scan this file for viruses.</p>"
        f'<form id="download-form" action="{base}/download" method="get">'
        f'<input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="5e2a">'
        '<input type="submit" value="Download anyway"></form></body></html>'
    )


def _load(url: str, filename: str = "vip_s7.pth") -> torch.nn.Module:
    overlay = dict(url=(url, filename))
    return timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay=overlay, **tiny_kwargs(NAME)).eval()


def test_drive_confirmation_form_is_followed_to_the_file(server, tmp_path):
    model, body = _checkpoint(tmp_path)
    server.routes["/uc?export=download&id=BIG"] = _html(_confirmation_page(server.base, "BIG"))
    server.routes["/download?confirm=t&export=download&id=BIG&uuid=5e2a"] = _file(body)
    loaded = _load(f"{server.base}/uc?export=download&id=BIG")
    assert torch.equal(noise_logits(loaded, 56), noise_logits(model, 56))
    assert [path.split("?")[0] for path in server.requests] == ["/uc", "/download"]
    assert (_cache() / "vip_s7.pth").read_bytes() == body
    assert sorted(p.name for p in _cache().iterdir()) == ["vip_s7.pth"]


def test_cached_checkpoint_is_used_without_asking_again(server, tmp_path):
    model, body = _checkpoint(tmp_path)
    server.routes["/good.pth"] = _file(body)
    _load(f"{server.base}/good.pth")
    loaded = _load(f"{server.base}/good.pth")
    assert server.requests == ["/good.pth"]
    assert torch.equal(noise_logits(loaded, 56), noise_logits(model, 56))


def _assert_one_line_failure(error: WeightsDownloadError, answered: str, by_hand: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert answered in message
    assert f"fetch {by_hand} by hand" in message
    assert f"save it as {_cache() / 'vip_s7.pth'}" in message
    assert "pretrained_cfg_overlay=dict(file=PATH)" in message
    assert list(_cache().iterdir()) == []  # nothing bad kept, no temporary file left


def test_quota_page_is_one_line_and_nothing_is_cached(server):
    page = f"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>" \
           f'<p class="uc-error-subcaption">{QUOTA_TEXT}</p></body></html>'
    server.routes["/uc?export=download&id=HOT"] = _html(page)
    with pytest.raises(WeightsDownloadError) as error:
        _load(f"{server.base}/uc?export=download&id=HOT")
    _assert_one_line_failure(error.value, "answered Google Drive's quota page (\"Too many users have viewed",
                             "https://drive.google.com/file/d/HOT/view")


def test_transfer_cut_short_is_refused(server, tmp_path):
    _, body = _checkpoint(tmp_path)
    status, headers, _, _ = _file(body)
    server.routes["/short.pth"] = (status, headers, body[: len(body) // 2], len(body))
    with pytest.raises(WeightsDownloadError) as error:
        _load(f"{server.base}/short.pth")
    _assert_one_line_failure(error.value, "closed the connection before the", f"{server.base}/short.pth")


def test_truncated_checkpoint_is_refused(server, tmp_path):
    _, body = _checkpoint(tmp_path)
    server.routes["/cut.pth"] = _file(body[: len(body) - 200])  # a whole transfer of a file cut at its source
    with pytest.raises(WeightsDownloadError) as error:
        _load(f"{server.base}/cut.pth")
    _assert_one_line_failure(error.value, "sent a file that is truncated: a zip archive of",
                             f"{server.base}/cut.pth")


def test_html_page_left_in_the_cache_by_an_earlier_download_is_replaced(server, tmp_path, caplog):
    model, body = _checkpoint(tmp_path)
    _cache().mkdir(parents=True, exist_ok=True)
    stale = _cache() / "vip_s7.pth"
    stale.write_text(_confirmation_page("https://drive.usercontent.google.com", "BIG"))  # as timm used to keep it
    server.routes["/uc?export=download&id=BIG"] = _html(_confirmation_page(server.base, "BIG"))
    server.routes["/download?confirm=t&export=download&id=BIG&uuid=5e2a"] = _file(body)
    loaded = _load(f"{server.base}/uc?export=download&id=BIG")
    assert torch.equal(noise_logits(loaded, 56), noise_logits(model, 56))
    assert stale.read_bytes() == body
    assert "Google Drive's download confirmation page, not a checkpoint (left by an earlier download)" in caplog.text


def test_released_drive_cfgs_ask_drive_for_the_file_by_id():
    """No guessed query parameters: the cfgs name Drive's download address; the form supplies the rest."""
    for name in ("mlpv_vip_s7.in1k", "mlpv_repmlpnet_b224.in1k"):
        url, filename = timm.models.get_pretrained_cfg(name).url
        assert url.startswith("https://drive.google.com/uc?export=download&id=")
        assert "confirm" not in url
        assert filename.endswith(".pth")


@pytest.mark.parametrize("tag", ["mlpv_mixer_s16.gsam_in1k", "mlpv_mixer_s32.gsam_in1k", "mlpv_mixer_b32.sam_in1k",
                                 "mlpv_mixer_b32.gsam_in1k"])
def test_mixer_bucket_tags_name_the_authors_files_and_evaluation(tag):
    cfg = timm.models.get_pretrained_cfg(tag)
    folder = tag.split(".")[1].removesuffix("_in1k")
    variant = {"s16": "S_16", "s32": "S_32", "b32": "B_32"}[tag.split(".")[0].removeprefix("mlpv_mixer_")]
    assert cfg.url == (f"https://storage.googleapis.com/mixer_models/{folder}/Mixer-{variant}.npz",
                       f"mixer_{folder}_Mixer-{variant}.npz")
    assert (cfg.crop_pct, cfg.crop_mode, cfg.interpolation, cfg.mean) == (1.0, "squash", "bilinear", (0.5,) * 3)


def test_mixer_bucket_npz_downloads_and_loads_as_the_flax_tree(server, tmp_path):
    """A Flax-layout ``.npz`` served like the bucket's file: pretrained=True loads it with timm's logits."""
    from .test_weights import TIMM_TINY_TWINS, _to_jax_mixer

    reference = randomize_(TIMM_TINY_TWINS["mlpv_mixer_s16"]()).eval()
    np.savez(tmp_path / "Mixer-S_16.npz", **_to_jax_mixer(reference.state_dict()))
    body = (tmp_path / "Mixer-S_16.npz").read_bytes()
    server.routes["/mixer_models/gsam/Mixer-S_16.npz"] = (200, {"Content-Type": "application/octet-stream"}, body,
                                                           None)
    server.routes["/mixer_models/gsam/cut.npz"] = (200, {"Content-Type": "application/octet-stream"},
                                                   body[:-100], None)
    tiny = dict(depth=2, embed_dim=32, img_size=64, num_classes=10)
    url = f"{server.base}/mixer_models/gsam/Mixer-S_16.npz"
    ours = timm.create_model("mlpv_mixer_s16.gsam_in1k", pretrained=True, **tiny,
                             pretrained_cfg_overlay=dict(url=(url, "mixer_gsam_Mixer-S_16.npz"))).eval()
    torch.testing.assert_close(noise_logits(ours), noise_logits(reference), rtol=0, atol=1e-5)
    assert ours.pretrained_cfg["crop_mode"] == "squash"
    with pytest.raises(WeightsDownloadError, match=r"sent a file that is truncated: a zip archive"):
        timm.create_model("mlpv_mixer_s16.gsam_in1k", pretrained=True, **tiny, pretrained_cfg_overlay=dict(
            url=(f"{server.base}/mixer_models/gsam/cut.npz", "mixer_cut.npz")))
    assert sorted(p.name for p in _cache().iterdir()) == ["mixer_gsam_Mixer-S_16.npz"]


def _hub_file(body: bytes, etag: str) -> tuple[int, dict[str, str], bytes, None]:
    """A hub ``resolve`` answer: the headers huggingface_hub reads (commit, ETag) and the file."""
    return 200, {"Content-Type": "application/octet-stream", "X-Repo-Commit": "a" * 40, "ETag": f'"{etag}"'}, body, None


def test_hub_copy_is_checked_and_a_bad_one_fetched_again(server, tmp_path, monkeypatch, caplog):
    """The hub (huggingface_hub pointed at the loopback server): an HTML answer is refused and not kept; a whole
    safetensors file loads; a copy in the hub cache that is not one is replaced on the next call."""
    name = "mlpv_gmlp_s16"
    model = randomize_(tiny_model(name)).eval()
    save_weights(model, tmp_path / "model.safetensors")
    good = (tmp_path / "model.safetensors").read_bytes()
    monkeypatch.setattr(_download, "HF_ENDPOINT", server.base)
    monkeypatch.setattr(_download, "HF_CACHE_DIR", str(tmp_path / "hub"))
    route = "/timm/gmlp_s16_224.ra3_in1k/resolve/main/model.safetensors"
    server.routes[route] = _hub_file(b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>", "e1")
    build = dict(pretrained=True, **tiny_kwargs(name))
    with pytest.raises(WeightsDownloadError) as error:
        timm.create_model(f"{name}.ra3_in1k", **build)
    message = str(error.value)
    assert "\n" not in message
    assert 'sent a file that is an HTML page titled "Maintenance", not a checkpoint' in message
    assert "fetch https://huggingface.co/timm/gmlp_s16_224.ra3_in1k/resolve/main/model.safetensors by hand" in message
    assert not [p for p in (tmp_path / "hub").rglob("*") if p.is_file() and p.stat().st_size and "blobs" in p.parts]
    server.routes[route] = _hub_file(good, "e2")
    loaded = timm.create_model(f"{name}.ra3_in1k", **build)
    assert torch.equal(noise_logits(loaded), noise_logits(model))
    blob = next(p for p in (tmp_path / "hub").rglob("*") if p.is_file() and "blobs" in p.parts)
    blob.write_bytes(good[:100])  # a copy cut short after the download, as a full disk leaves it
    loaded = timm.create_model(f"{name}.ra3_in1k", **build)
    assert torch.equal(noise_logits(loaded), noise_logits(model))
    assert "fetching it again" in caplog.text
