"""The style library: the bundled, read-only starter set plus the user's own styles.

Styles are folders (see :mod:`engine.styles.style`). A style's id is its folder name, a
slug made from its name when it was added; renaming changes the display name but keeps the
id, so anything that refers to a style by id keeps working. Names are kept unique across
the library so ``get`` by name is never ambiguous.

Every change is atomic (a staging folder swapped in by :mod:`engine.atomic`) and made under
a lock on the library folder, so two programs changing the library at once cannot both take
the same name. Opening a library clears what a killed writer left: its staging folders go,
and an old version it had set aside goes back if the new one never arrived. A broken folder
never breaks the library: it is skipped and described in :attr:`Library.problems`, and it
can still be removed. A user style whose id equals a bundled one's (a bundled folder copied
in by hand) takes the bundled style's place, so every id names one style.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import re
import shutil
import stat
import threading
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path

from engine import atomic, paths
from engine.errors import StyleError
from engine.styles.style import (
    LEGACY_TEMP_PREFIX,
    META,
    STYLE_FILES,
    WEIGHTS,
    Style,
    clean_name,
    read_style,
    utc_now,
    validate_meta,
    write_json_atomic,
    write_style,
)

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "styles"
SHARE_SUFFIX = ".sonolume"
MAX_SHARE_BYTES = 50 << 20  # uncompressed total of a share file
MAX_RATIO = 200  # compression ratio above which a big entry is treated as a zip bomb
BUNDLED_FAVOURITES = ".bundled-favourites.json"
# Library writes take seconds; a temporary this old belongs to a killed program.
STALE_TEMP_SECONDS = 15 * 60
LOCK_FILE = ".sonolume-library.lock"
LOCK_TIMEOUT_S = 10.0
READONLY_MESSAGE = "bundled styles are read-only; duplicate it first"


def slugify(name: str, limit: int = 48) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:limit].rstrip("-") or "style"


class Library:
    def __init__(self, user_dir: str | Path | None = None,
                 bundled_dir: Path | None = BUNDLED_DIR):
        self.user_dir = paths.library_dir(user_dir)
        self.bundled_dir = Path(bundled_dir) if bundled_dir else None
        self.problems: list[str] = []
        self.broken: dict[str, str] = {}  # folder name -> why it was skipped
        self._broken_paths: dict[str, Path] = {}  # broken user folders, by folder name
        self._cache: dict[Path, tuple[tuple, Style]] = {}
        self._lock = threading.RLock()
        self._lock_depth = 0
        self._lock_fh = None
        self._clean_stale_temps()

    # ---- reading -------------------------------------------------------------------

    def _folders(self, root: Path | None) -> list[Path]:
        if root is None or not root.is_dir():
            return []
        try:
            entries = sorted(root.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            self.problems.append(f"cannot read library folder {root}: {exc.strerror or exc}")
            return []
        # Dot names are temporaries and lock files; reserved names hold presets and shows.
        return [p for p in entries if not p.name.startswith(".") and p.is_dir()
                and not p.is_symlink() and p.name not in paths.LIBRARY_RESERVED]

    def _read(self, folder: Path, readonly: bool) -> Style:
        try:
            stamp = tuple((s.st_mtime_ns, s.st_size) for s in
                          ((folder / n).stat() for n in (META, WEIGHTS)))
        except OSError:
            stamp = None
        hit = self._cache.get(folder)
        if stamp is not None and hit and hit[0] == stamp:
            style = hit[1]
        else:
            style = read_style(folder, readonly=readonly)
            if stamp is not None:
                self._cache[folder] = (stamp, style)
        return Style(path=style.path, meta=dict(style.meta), readonly=readonly)

    def list(self) -> list[Style]:
        """Bundled styles first, then the user's, each group sorted by id."""
        self.problems = []
        self.broken: dict[str, str] = {}
        self._broken_paths = {}
        favs = self._bundled_favourites()
        user_ids = {p.name for p in self._folders(self.user_dir)}
        styles = []
        for root, readonly in ((self.bundled_dir, True), (self.user_dir, False)):
            for folder in self._folders(root):
                if readonly and folder.name in user_ids:
                    continue  # the user's folder of the same id takes its place
                try:
                    style = self._read(folder, readonly)
                except StyleError as exc:
                    self.problems.append(f"skipped broken style '{folder.name}': {exc}")
                    self.broken[folder.name] = str(exc)
                    if not readonly:
                        self._broken_paths[folder.name] = folder
                    continue
                except OSError as exc:
                    self.problems.append(f"skipped unreadable style '{folder.name}': "
                                         f"{exc.strerror or exc}")
                    self.broken[folder.name] = str(exc.strerror or exc)
                    if not readonly:
                        self._broken_paths[folder.name] = folder
                    continue
                if readonly:
                    style.meta["favourite"] = style.id in favs
                styles.append(style)
        return styles

    def get(self, key: str) -> Style:
        """A style by id or by exact name (case-insensitive)."""
        if not isinstance(key, str) or not key.strip():
            raise StyleError("no style given (empty name)")
        key = key.strip()
        styles = self.list()
        for s in styles:
            if s.id == key:
                return s
        folded = key.casefold()
        by_name = [s for s in styles if s.name.casefold() == folded]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            ids = ", ".join(s.id for s in by_name)
            raise StyleError(f"'{key}' names several styles ({ids}); use an id")
        by_id_ci = [s for s in styles if s.id.casefold() == folded]
        if len(by_id_ci) == 1:
            return by_id_ci[0]
        candidates = {s.id: s for s in styles}
        candidates.update({s.name.casefold(): s for s in styles})
        close = difflib.get_close_matches(folded, list(candidates), n=4, cutoff=0.5)
        close += [k for k in candidates if folded in k and k not in close][:4]
        names = list(dict.fromkeys(f"{candidates[c].name} ({candidates[c].id})" for c in close))
        hint = f"; did you mean: {'; '.join(names[:4])}" if names else \
            "; run 'sonolume styles list' to see them"
        if key in self.broken:
            raise StyleError(f"style '{key}' is broken: {self.broken[key]}")
        raise StyleError(f"unknown style '{key}'{hint}")

    def search(self, text: str) -> list[Style]:
        """Styles whose name, id, prompts or negatives contain every word of ``text``."""
        terms = (text or "").casefold().split()
        if not terms:
            raise StyleError("empty search text")
        scored = []
        for s in self.list():
            name = f"{s.name} {s.id}".casefold()
            body = " ".join([p["text"] for p in s.prompts] + s.meta.get("negatives", []))
            hay = f"{name} {body.casefold()}"
            if all(t in hay for t in terms):
                scored.append((0 if all(t in name for t in terms) else 1, s.name.casefold(), s))
        return [s for *_, s in sorted(scored, key=lambda x: x[:2])]

    def semantic_search(self, clip, text: str, top: int = 10) -> list[tuple[Style, float]]:
        """Rank styles by CLIP text similarity between ``text`` and each style's prompts
        (weighted mean of prompt embeddings; untrained styles use their name)."""
        if not (text or "").strip():
            raise StyleError("empty search text")
        styles, sim = self.semantic_scores(clip, [text.strip()])
        ranked = sorted(zip(styles, sim[0].tolist()), key=lambda x: -x[1])
        return ranked[: max(0, int(top))]

    def semantic_scores(self, clip, texts: list[str]):
        """(styles, (Q, S) cosine matrix) for many queries at once: the one scoring rule
        behind semantic search, so its retrieval report measures what users get."""
        import torch
        import torch.nn.functional as F

        styles = self.list()
        queries = F.normalize(clip.encode_text(list(texts)).float(), dim=-1)
        rows = []
        for s in styles:
            prompts = [(p["text"], p["weight"]) for p in s.prompts] if s.trained else []
            prompts = [(t, w) for t, w in prompts if w > 0] or [(s.name, 1.0)]
            emb = clip.encode_text([t for t, _ in prompts]).float()
            weights = torch.tensor([w for _, w in prompts], dtype=emb.dtype)
            rows.append(F.normalize((emb * weights[:, None]).sum(0), dim=-1))
        if not rows:
            return styles, torch.zeros(len(texts), 0)
        return styles, queries @ torch.stack(rows).T

    # ---- writing -------------------------------------------------------------------

    def _names(self, exclude: Style | None = None) -> set[str]:
        return {s.name.casefold() for s in self.list()
                if exclude is None or s.path != exclude.path}

    def _ids(self) -> set[str]:
        ids = {p.name for p in self._folders(self.bundled_dir)}
        ids |= {p.name for p in self._folders(self.user_dir)}
        return ids | paths.LIBRARY_RESERVED

    def unique_name(self, name: str, exclude: Style | None = None) -> str:
        name = clean_name(name)
        taken = self._names(exclude)
        if name.casefold() not in taken:
            return name
        base = re.sub(r" \(\d+\)$", "", name)
        n = 2
        while f"{base} ({n})".casefold() in taken:
            n += 1
        return f"{base} ({n})"

    def _new_folder(self, name: str) -> Path:
        base = slugify(name)
        taken = self._ids()
        slug, n = base, 2
        while slug in taken or (self.user_dir / slug).exists():
            slug = f"{base}-{n}"
            n += 1
        return self.user_dir / slug

    def _ensure_user_dir(self) -> None:
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StyleError(f"cannot create the style library at {self.user_dir}: "
                             f"{exc.strerror or exc}") from exc
        if not os.access(self.user_dir, os.W_OK):
            raise StyleError(f"the style library {self.user_dir} is not writable")

    @contextlib.contextmanager
    def _locked(self):
        """Hold the library's write lock (re-entrant within this object). Checks such as
        "is this name free?" and the write they guard must happen under one lock, or two
        programs renaming at once both pass the check."""
        with self._lock:
            if self._lock_depth == 0:
                self._ensure_user_dir()
                self._lock_fh = _acquire_file_lock(self.user_dir / LOCK_FILE, LOCK_TIMEOUT_S)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    fh, self._lock_fh = self._lock_fh, None
                    _release_file_lock(fh)

    def _writable(self, key: str) -> Style:
        style = self.get(key)
        if style.readonly:
            raise StyleError(f"'{style.name}': {READONLY_MESSAGE}")
        return style

    def add(self, cppn, meta: dict, thumb=None) -> Style:
        """Save a new style in the user library; a clashing name gets a ' (2)' suffix."""
        meta = dict(meta or {})
        if "name" not in meta:
            raise StyleError("a new style needs a name")
        with self._locked():
            meta["name"] = self.unique_name(meta["name"])
            return write_style(self._new_folder(meta["name"]), cppn, meta, thumb)

    def _update_meta(self, style: Style, **changes) -> Style:
        meta = validate_meta({**style.meta, **changes}, str(style.path / META))
        write_json_atomic(style.path / META, meta)
        self._cache.pop(style.path, None)
        return Style(path=style.path, meta=meta, readonly=style.readonly)

    def rename(self, key: str, new_name: str) -> Style:
        new_name = clean_name(new_name, "new name")
        with self._locked():
            style = self._writable(key)
            if new_name.casefold() in self._names(exclude=style):
                raise StyleError(f"a style named '{new_name}' already exists")
            return self._update_meta(style, name=new_name)

    def duplicate(self, key: str, new_name: str | None = None) -> Style:
        with self._locked():
            src = self.get(key)
            if new_name is None:
                name = self.unique_name(f"{src.name} (copy)")
            else:
                name = clean_name(new_name, "new name")
                if name.casefold() in self._names():
                    raise StyleError(f"a style named '{name}' already exists")
            dest = self._new_folder(name)
            meta = dict(src.meta, name=name, favourite=False)
            meta["extra"] = dict(meta.get("extra") or {}, duplicated_from=src.id)
            return self._install(src.path, dest, meta)

    def _install(self, src: Path, dest: Path, meta: dict) -> Style:
        """Copy the style files of ``src`` into a new folder ``dest`` with ``meta``,
        atomically, and validate the result before it becomes visible."""
        try:
            with atomic.atomic_folder(dest, overwrite=False) as tmp:
                for name in STYLE_FILES:
                    if (src / name).is_file() and name != META:
                        shutil.copyfile(src / name, tmp / name)
                write_json_atomic(tmp / META, meta)
                style = read_style(tmp)
                if dest.exists():
                    raise StyleError(f"a style already exists at {dest}")
        except FileExistsError as exc:  # appeared between the check and the rename
            raise StyleError(f"a style already exists at {dest}") from exc
        except OSError as exc:
            raise StyleError(f"cannot write style to {dest}: {exc.strerror or exc}") from exc
        return Style(path=dest, meta=style.meta, readonly=False)

    def broken_user_folder(self, key: str) -> Path | None:
        """The user's folder named ``key`` if it is a style the library cannot read."""
        self.list()
        return self._broken_paths.get(key.strip() if isinstance(key, str) else key)

    def delete(self, key: str) -> None:
        """Remove a user style, a broken one included (by its folder name): a folder the
        library cannot read is exactly the one a user wants gone."""
        with self._locked():
            try:
                folder = self._writable(key).path
            except StyleError:
                folder = self._broken_paths.get(key.strip() if isinstance(key, str) else key)
                if folder is None:
                    raise
            try:
                atomic.remove_folder(folder)
            except OSError as exc:
                raise StyleError(f"cannot delete {folder}: {exc.strerror or exc}") from exc
            self._cache.pop(folder, None)

    def set_favourite(self, key: str, value: bool = True) -> Style:
        value = bool(value)
        with self._locked():
            style = self.get(key)
            if not style.readonly:
                return self._update_meta(style, favourite=value)
            # Bundled styles stay untouched; their favourite flags live in the user library.
            favs = self._bundled_favourites()
            favs = (favs | {style.id}) if value else (favs - {style.id})
            write_json_atomic(self.user_dir / BUNDLED_FAVOURITES, {"favourites": sorted(favs)})
            style.meta["favourite"] = value
            return style

    def _bundled_favourites(self) -> set[str]:
        path = self.user_dir / BUNDLED_FAVOURITES
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {x for x in data.get("favourites", []) if isinstance(x, str)}
        except (OSError, ValueError, AttributeError):
            return set()

    # ---- sharing -------------------------------------------------------------------

    def export_share(self, key: str, path) -> Path:
        """Write one style as a single ``.sonolume`` file (a zip of its folder)."""
        style = self.get(key)
        path = Path(path).expanduser()
        if path.is_dir():
            path = path / f"{style.id}{SHARE_SUFFIX}"
        if not path.suffix:
            path = path.with_suffix(SHARE_SUFFIX)
        if not path.parent.is_dir():
            raise StyleError(f"cannot write {path}: folder {path.parent} does not exist")
        meta = dict(style.meta, favourite=False)
        try:
            with atomic.atomic_path(path) as tmp:
                with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                    zf.writestr(META, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
                    for name in STYLE_FILES:
                        if name != META and (style.path / name).is_file():
                            zf.write(style.path / name, name)
        except OSError as exc:
            raise StyleError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return path

    def import_share(self, path, name: str | None = None) -> Style:
        """Add the style in a share file to the user library (validated before it lands;
        nothing is left behind on failure)."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise StyleError(f"share file not found: {path}")
        if path.stat().st_size > MAX_SHARE_BYTES:
            raise StyleError(f"{path.name}: too large for a style ({path.stat().st_size >> 20} MB)")
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise StyleError(f"{path.name}: not a Sonolume share file (not a zip archive)") from exc
        self._ensure_user_dir()
        try:
            with zf, atomic.scratch_folder(self.user_dir / "import") as staging:
                return self._import_members(zf, staging, path, name)
        except OSError as exc:
            raise StyleError(f"cannot import {path.name}: {exc.strerror or exc}") from exc

    def _import_members(self, zf: zipfile.ZipFile, staging: Path, path: Path,
                        name: str | None) -> Style:
        """Unpack a vetted share archive into ``staging``, validate it, and install it."""
        members = _check_share_members(zf, path.name)
        for info, dest_name in members:
            _extract_member(zf, info, staging / dest_name, path.name)
        try:
            style = read_style(staging)
        except StyleError as exc:
            msg = str(exc).replace(str(staging) + os.sep, "").replace(str(staging), "archive")
            msg = msg.replace(staging.name, "archive")
            raise StyleError(f"{path.name}: not a valid style: {msg}") from exc
        meta = dict(style.meta, favourite=False)
        meta["name"] = self.unique_name(meta["name"] if name is None else name)
        extra = dict(meta.get("extra") or {})
        extra.setdefault("imported_from", path.name)
        meta["extra"] = extra
        with self._locked():
            meta["name"] = self.unique_name(meta["name"])
            return self._install(staging, self._new_folder(meta["name"]), meta)

    def import_legacy_pth(self, path, name: str | None = None) -> Style:
        """Convert a legacy PyTorch state_dict of a sine CPPN into a style."""
        from engine.styles.legacy import load_legacy_cppn

        path = Path(path).expanduser()
        cppn, info = load_legacy_cppn(path)
        meta = {
            "name": path.stem if name is None else clean_name(name),
            "prompts": [],
            "negatives": [],
            "clip": None,
            "trained": True,
            "created": utc_now(),
            "extra": {"imported": True, "imported_from": path.name,
                      "import_note": "legacy .pth: prompts and CLIP model unknown",
                      **info},
        }
        return self.add(cppn, meta)

    def import_file(self, path, name: str | None = None) -> Style:
        """A share file or a legacy .pth, told apart by content."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise StyleError(f"file not found: {path}")
        if path.suffix.lower() in (SHARE_SUFFIX, ".zip"):
            return self.import_share(path, name)
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            with open(path, "rb") as fh:
                head = fh.read(2)
            if head[:1] == b"\x80":  # a pickle: the old (pre-1.6) torch.save format
                return self.import_legacy_pth(path, name)
            raise StyleError(f"{path.name}: neither a Sonolume share file (.sonolume) nor "
                             "PyTorch CPPN weights (.pth)") from None
        if any(n.endswith("data.pkl") for n in names) and not any(
            n.rsplit("/", 1)[-1] == META for n in names
        ):
            return self.import_legacy_pth(path, name)
        return self.import_share(path, name)

    # ---- housekeeping --------------------------------------------------------------

    def _clean_stale_temps(self) -> None:
        """Remove temporaries left by a crash or ``kill -9``, in the library, in its presets
        and shows folders and inside each style (a killed metadata edit). Folders a killed
        style save left go at once (their writer's lock died with it; an old version set
        aside goes back); other temporaries once they are old enough that no writer owns
        them."""
        if not self.user_dir.is_dir():
            return
        for folder in (self.user_dir, *(self.user_dir / n for n in paths.LIBRARY_RESERVED)):
            atomic.remove_stale_temporaries(folder, STALE_TEMP_SECONDS)
        for folder in self._folders(self.user_dir):
            atomic.remove_stale_temporaries(folder, STALE_TEMP_SECONDS)
        now = time.time()
        try:
            entries = list(self.user_dir.iterdir())
        except OSError:
            return
        for p in entries:
            if not p.name.startswith(LEGACY_TEMP_PREFIX):
                continue
            try:
                if now - p.lstat().st_mtime < STALE_TEMP_SECONDS:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
            except OSError:
                pass


def _check_share_members(zf: zipfile.ZipFile, label: str) -> list[tuple[zipfile.ZipInfo, str]]:
    """Vet every entry of a share archive before anything is extracted."""
    infos = zf.infolist()
    if len(infos) > 16:
        raise StyleError(f"{label}: unexpected files in archive ({len(infos)} entries)")
    files: list[tuple[zipfile.ZipInfo, list[str]]] = []
    total = 0
    for info in infos:
        raw = info.filename
        if "\\" in raw or raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
            raise StyleError(f"{label}: refusing absolute or Windows path in archive: {raw!r}")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts):
            raise StyleError(f"{label}: refusing path traversal in archive: {raw!r}")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise StyleError(f"{label}: refusing symbolic link in archive: {raw!r}")
        if info.flag_bits & 0x1:
            raise StyleError(f"{label}: encrypted archives are not supported")
        if info.is_dir():
            if len(parts) > 1:
                raise StyleError(f"{label}: unexpected folder in archive: {raw!r}")
            continue
        if mode and not (stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0):
            raise StyleError(f"{label}: refusing special file in archive: {raw!r}")
        total += info.file_size
        if total > MAX_SHARE_BYTES:
            raise StyleError(f"{label}: archive unpacks to more than "
                             f"{MAX_SHARE_BYTES >> 20} MB; refusing it")
        ratio = info.file_size // max(1, info.compress_size)
        if info.file_size > (1 << 20) and ratio > MAX_RATIO:
            raise StyleError(f"{label}: {raw!r} is compressed {ratio}:1, which looks like a "
                             "zip bomb; refusing it")
        files.append((info, parts))
    # Accept the files at the top level or inside one folder (as 'zip -r' makes).
    tops = {parts[0] for _, parts in files if len(parts) == 2}
    out, seen = [], set()
    for info, parts in files:
        if len(parts) == 2 and len(tops) == 1:
            parts = parts[1:]
        if len(parts) != 1 or parts[0] not in STYLE_FILES:
            raise StyleError(f"{label}: unexpected file in archive: {info.filename!r} "
                             f"(a style holds only {', '.join(STYLE_FILES)})")
        if parts[0] in seen:
            raise StyleError(f"{label}: duplicate entry {parts[0]!r} in archive")
        seen.add(parts[0])
        out.append((info, parts[0]))
    for needed in (META, WEIGHTS):
        if needed not in seen:
            raise StyleError(f"{label}: not a valid style: {needed} is missing from the archive")
    return out


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, label: str) -> None:
    """Copy one entry, counting real bytes (a lying header cannot make it bigger)."""
    limit = min(info.file_size, MAX_SHARE_BYTES)
    written = 0
    try:
        with zf.open(info) as src, open(dest, "xb") as out:
            while True:
                chunk = src.read(1 << 16)
                if not chunk:
                    break
                written += len(chunk)
                if written > limit:
                    raise StyleError(f"{label}: {info.filename!r} is larger than it declares")
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError, ValueError,
            zlib.error) as exc:
        raise StyleError(f"{label}: damaged archive entry {info.filename!r}: {exc}") from exc


def _acquire_file_lock(path: Path, timeout: float):
    """An exclusive lock on ``path`` shared with every other Sonolume process, waiting at
    most ``timeout`` seconds: a stuck holder must give the user a message, not a hang."""
    try:
        fh = open(path, "a+b")
    except OSError as exc:
        raise StyleError(f"cannot lock the style library {path.parent}: "
                         f"{exc.strerror or exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        try:
            _lock_nonblocking(fh)
            return fh
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                # No locks on this file system (some network mounts): a rare race is a
                # smaller harm than a library nobody can change.
                return fh
        if time.monotonic() >= deadline:
            fh.close()
            raise StyleError(f"the style library {path.parent} is busy: another Sonolume "
                             f"program has been changing it for {timeout:.0f} s; try again "
                             "when it has finished")
        time.sleep(0.05)


def _lock_nonblocking(fh) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _release_file_lock(fh) -> None:
    if fh is None:
        return
    try:
        try:
            import fcntl
        except ImportError:
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass
    finally:
        fh.close()
