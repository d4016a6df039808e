import io
import json
import stat
import zipfile

import pytest
import torch
from safetensors.torch import save
from style_helpers import entries, meta, small_cppn, tiny_thumb

from engine.errors import StyleError
from engine.styles import library as library_mod


@pytest.fixture
def shared(lib, tmp_path):
    lib.add(small_cppn(7), meta("Sunset", favourite=True), tiny_thumb())
    return lib.export_share("sunset", tmp_path / "sunset.sonolume")


def test_export_import_round_trip(lib, shared, tmp_path):
    assert shared.name == "sunset.sonolume"
    with zipfile.ZipFile(shared) as zf:
        assert sorted(zf.namelist()) == ["style.json", "thumb.png", "weights.safetensors"]
        assert json.loads(zf.read("style.json"))["favourite"] is False
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    st = lib.import_share(shared)
    assert (st.id, st.name) == ("sunset-2", "Sunset (2)")  # name clash -> " (2)"
    assert st.meta["prompts"] == lib.get("sunset").meta["prompts"]
    assert st.meta["extra"]["imported_from"] == "sunset.sonolume"
    assert torch.equal(st.load_cppn().render(16, 16), lib.get("sunset").load_cppn().render(16, 16))
    assert lib.import_share(shared, name="Evening").name == "Evening"
    assert lib.import_file(shared).name == "Sunset (3)"
    assert lib.problems == []


def test_export_paths(lib, shared, tmp_path):
    assert lib.export_share("sunset", tmp_path).name == "sunset.sonolume"  # into a folder
    assert lib.export_share("sunset", tmp_path / "plain").name == "plain.sonolume"
    with pytest.raises(StyleError, match="does not exist"):
        lib.export_share("sunset", tmp_path / "no" / "such" / "x.sonolume")


def test_import_accepts_one_enclosing_folder(lib, tmp_path):
    lib.add(small_cppn(), meta("Foldered"), tiny_thumb())
    src = lib.get("foldered").path
    path = tmp_path / "zipped.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("foldered/", "")
        for f in ("style.json", "weights.safetensors", "thumb.png"):
            zf.write(src / f, f"foldered/{f}")
    assert lib.import_share(path).name == "Foldered (2)"


def _weights() -> bytes:
    return save({k: v.contiguous() for k, v in small_cppn().state_dict().items()})


def _meta_json(**changes) -> str:
    m = {**meta("Hostile"), "schema_version": 1,
         "architecture": small_cppn().config.to_json(), **changes}
    return json.dumps(m)


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return path


def _symlink_info(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _huge_declared_size(path):
    """A valid archive whose central directory claims a 4 GB weights file."""
    _zip(path, [("style.json", _meta_json()), ("weights.safetensors", _weights())])
    data = bytearray(path.read_bytes())
    # patch the uncompressed size (offset 24) of the last central directory entry
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24: cd + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


HOSTILE = {
    "traversal": (lambda p: _zip(p, [("style.json", _meta_json()),
                                     ("weights.safetensors", _weights()),
                                     ("../evil.txt", "x")]), "path traversal"),
    "deep traversal": (lambda p: _zip(p, [("a/../../style.json", _meta_json())]),
                       "path traversal"),
    "absolute": (lambda p: _zip(p, [("/etc/cron.d/evil", "x")]), "absolute"),
    "windows": (lambda p: _zip(p, [("C:\\evil.txt", "x")]), "absolute or Windows"),
    "symlink": (lambda p: _zip(p, [("style.json", _meta_json()),
                                   (_symlink_info("weights.safetensors"), "/etc/passwd")]),
                "symbolic link"),
    "bomb": (lambda p: _zip(p, [("style.json", _meta_json()),
                                ("weights.safetensors", b"\0" * (30 << 20))]), "zip bomb"),
    "too big": (lambda p: _zip(p, [("style.json", _meta_json()),
                                   ("weights.safetensors", _weights()),
                                   ("thumb.png", bytes(range(256)) * (220 << 10))]),
                "more than 50 MB"),
    "declared huge": (_huge_declared_size, "more than 50 MB"),
    "not a zip": (lambda p: p.write_bytes(b"hello, I am text"), "not a Sonolume share file"),
    "empty file": (lambda p: p.write_bytes(b""), "not a Sonolume share file"),
    "missing style.json": (lambda p: _zip(p, [("weights.safetensors", _weights())]),
                           "style.json is missing"),
    "missing weights": (lambda p: _zip(p, [("style.json", _meta_json())]),
                        "weights.safetensors is missing"),
    "unexpected file": (lambda p: _zip(p, [("style.json", _meta_json()),
                                           ("weights.safetensors", _weights()),
                                           ("run.sh", "rm -rf /")]), "unexpected file"),
    "two folders": (lambda p: _zip(p, [("a/style.json", _meta_json()),
                                       ("b/weights.safetensors", _weights())]),
                    "unexpected file"),
    "duplicate": (lambda p: _zip(p, [("style.json", _meta_json()), ("style.json", "{}"),
                                     ("weights.safetensors", _weights())]), "duplicate"),
    "bad json": (lambda p: _zip(p, [("style.json", "{nope"),
                                    ("weights.safetensors", _weights())]), "bad JSON"),
    "wrong schema": (lambda p: _zip(p, [("style.json", _meta_json(schema_version=7)),
                                        ("weights.safetensors", _weights())]), "newer Sonolume"),
    "wrong shapes": (lambda p: _zip(p, [
        ("style.json", _meta_json(architecture={**small_cppn().config.to_json(), "hidden": 8})),
        ("weights.safetensors", _weights())]), "has shape"),
    "garbage weights": (lambda p: _zip(p, [("style.json", _meta_json()),
                                           ("weights.safetensors", b"\x08" + b"\0" * 40)]),
                        "not a valid safetensors"),
    "corrupt deflate": (lambda p: _corrupt(p), "damaged archive entry|not a Sonolume"),
}


def _corrupt(path):
    _zip(path, [("style.json", _meta_json() + " " * 5000), ("weights.safetensors", _weights())])
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30  # inside the first entry's compressed data
    path.write_bytes(bytes(data))


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_imports_are_refused_cleanly(lib, tmp_path, case):
    make, message = HOSTILE[case]
    lib.add(small_cppn(), meta("Existing"), tiny_thumb())
    path = tmp_path / "hostile.sonolume"
    make(path)
    with pytest.raises(StyleError, match=message) as err:
        lib.import_share(path)
    assert "\n" not in str(err.value) and "tmp-" not in str(err.value)
    assert entries(lib.user_dir) == ["existing"]  # nothing left behind
    assert not (tmp_path / "evil.txt").exists()
    assert [s.id for s in lib.list()] == ["existing"] and lib.problems == []


def test_extraction_never_exceeds_declared_sizes(lib, tmp_path, monkeypatch):
    """A header that understates an entry's size cannot smuggle more bytes in."""
    path = _zip(tmp_path / "x.sonolume", [("style.json", _meta_json()),
                                          ("weights.safetensors", _weights())])
    real = library_mod._check_share_members

    def understate(zf, label):
        out = real(zf, label)
        for info, _ in out:
            info.file_size = 10
        return out

    monkeypatch.setattr(library_mod, "_check_share_members", understate)
    with pytest.raises(StyleError):
        lib.import_share(path)
    assert not lib.user_dir.exists() or list(lib.user_dir.iterdir()) == []


def test_import_file_tells_formats_apart(lib, tmp_path):
    odd = tmp_path / "photo.jpg"
    odd.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(StyleError, match="neither a Sonolume share file"):
        lib.import_file(odd)
    with pytest.raises(StyleError, match="not found"):
        lib.import_file(tmp_path / "missing.sonolume")
    buf = io.BytesIO()
    torch.save(small_cppn().state_dict(), buf)
    renamed = tmp_path / "weights.dat"  # a torch zip without a telling suffix
    renamed.write_bytes(buf.getvalue())
    assert lib.import_file(renamed).meta["extra"]["imported"] is True
