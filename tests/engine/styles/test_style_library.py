import json
import os
import time

import pytest
from style_helpers import entries, meta, small_cppn, tiny_thumb

from engine.errors import StyleError
from engine.styles import library as library_mod
from engine.styles import style as style_mod
from engine.styles.library import BUNDLED_DIR, Library, slugify
from engine.styles.style import write_style


def add(lib, name="Sunset", **more):
    return lib.add(small_cppn(len(name)), meta(name, **more), tiny_thumb())


def test_default_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "env-lib"))
    assert Library().user_dir == tmp_path / "env-lib"
    monkeypatch.delenv("SONOLUME_LIBRARY")
    assert Library().user_dir.name == "styles" and "sonolume" in str(Library().user_dir)
    assert BUNDLED_DIR.name == "styles" and (BUNDLED_DIR.parent / "engine").is_dir()


def test_slugs():
    assert slugify("Ember Rings!  at Night") == "ember-rings-at-night"
    assert slugify("Crème brûlée") == "creme-brulee"
    assert slugify("★★★") == "style"
    assert len(slugify("x" * 300)) <= 48


def test_add_get_list_and_unique_names_and_ids(lib):
    a = add(lib, "Sunset")
    b = add(lib, "sunset")  # same name, other case
    c = add(lib, "Sunset!")
    assert (a.id, a.name) == ("sunset", "Sunset")
    assert (b.id, b.name) == ("sunset-2", "sunset (2)")
    assert c.id == "sunset-3"
    assert [s.id for s in lib.list()] == ["sunset", "sunset-2", "sunset-3"]
    assert lib.get("sunset").name == "Sunset"
    assert lib.get("SUNSET (2)").id == "sunset-2"  # by name, case-insensitive
    assert lib.get("  Sunset-3 ").name == "Sunset!"
    with pytest.raises(StyleError, match="empty"):
        lib.get("  ")


def test_unknown_style_lists_close_matches(lib):
    add(lib, "Ember rings")
    with pytest.raises(StyleError,
                       match=r"unknown style 'ember ring'.*Ember rings \(ember-rings\)"):
        lib.get("ember ring")
    with pytest.raises(StyleError, match="sonolume styles list"):
        lib.get("zzzzzz")


def test_rename_keeps_id_and_refuses_clashes(lib):
    add(lib, "One")
    add(lib, "Two")
    st = lib.rename("one", "  Uno   primo ")
    assert (st.id, st.name) == ("one", "Uno primo")
    assert lib.get("Uno primo").id == "one"
    with pytest.raises(StyleError, match="already exists"):
        lib.rename("one", "two")
    assert lib.rename("one", "UNO PRIMO").name == "UNO PRIMO"  # own name, new case is fine
    with pytest.raises(StyleError, match="empty"):
        lib.rename("one", "")


def test_duplicate_delete_and_favourite(lib):
    src = add(lib, "Base")
    lib.set_favourite("base", True)
    copy = lib.duplicate("base")
    assert copy.name == "Base (copy)" and copy.id == "base-copy" and not copy.favourite
    assert copy.meta["extra"]["duplicated_from"] == "base"
    assert (copy.path / "weights.safetensors").read_bytes() == \
        (src.path / "weights.safetensors").read_bytes()
    assert lib.duplicate("base").name == "Base (copy) (2)"
    named = lib.duplicate("base", "Variant")
    assert named.name == "Variant"
    with pytest.raises(StyleError, match="already exists"):
        lib.duplicate("base", "variant")
    assert lib.get("base").favourite
    assert not lib.set_favourite("base", False).favourite
    assert not lib.get("base").favourite
    lib.delete("variant")
    assert "variant" not in {s.id for s in lib.list()}
    assert entries(lib.user_dir) == ["base", "base-copy", "base-copy-2"]
    with pytest.raises(StyleError, match="unknown style"):
        lib.delete("variant")


def test_search_text(lib):
    add(lib, "Forest", prompts=["mossy forest floor"], negatives=["city"])
    add(lib, "Ocean", prompts=[{"text": "deep blue sea", "weight": 2}])
    assert [s.id for s in lib.search("MOSSY")] == ["forest"]
    assert [s.id for s in lib.search("blue deep")] == ["ocean"]
    assert [s.id for s in lib.search("city")] == ["forest"]
    assert lib.search("nothing here") == []
    with pytest.raises(StyleError, match="empty"):
        lib.search("   ")


def test_semantic_search_ranks_by_prompt_embedding(lib, tiny_clip):
    add(lib, "A", prompts=["a red fire"])
    add(lib, "B", prompts=["a frozen blue lake"])
    untrained = lib.add(small_cppn(), {"name": "a frozen blue lake pattern"}, tiny_thumb())
    ranked = lib.semantic_search(tiny_clip, "a frozen blue lake", top=10)
    assert len(ranked) == 3 and ranked[0][0].id == "b"
    assert ranked[0][1] == pytest.approx(1.0, abs=1e-4)  # same text, same embedding
    assert untrained.id in {s.id for s, _ in ranked}
    assert [s for s, _ in ranked] == [s for s, _ in sorted(ranked, key=lambda x: -x[1])]
    assert len(lib.semantic_search(tiny_clip, "fire", top=1)) == 1


def test_bundled_styles_are_read_only(tmp_path):
    lib = Library(tmp_path / "user")  # the real bundled set
    bundled = [s for s in lib.list() if s.readonly]
    assert len(bundled) >= 8
    key = bundled[0].id
    for action in (lambda: lib.rename(key, "Mine"), lambda: lib.delete(key)):
        with pytest.raises(StyleError, match="bundled styles are read-only; duplicate it first"):
            action()
    copy = lib.duplicate(key)
    assert not copy.readonly and copy.path.parent == tmp_path / "user"
    lib.rename(copy.id, "Mine now")
    # favourites of bundled styles live in the user library; the bundled folder is untouched
    before = (bundled[0].path / "style.json").read_bytes()
    assert lib.set_favourite(key, True).favourite
    assert lib.get(key).favourite and Library(tmp_path / "user").get(key).favourite
    assert (bundled[0].path / "style.json").read_bytes() == before
    lib.set_favourite(key, False)
    assert not lib.get(key).favourite


def test_broken_folders_are_skipped_and_reported(lib):
    add(lib, "Good")
    bad = lib.user_dir / "bad"
    bad.mkdir()
    (bad / "style.json").write_text("{oops")
    (bad / "weights.safetensors").write_bytes(b"")
    (lib.user_dir / "empty").mkdir()
    (lib.user_dir / "stray-file.txt").write_text("hi")
    os.symlink(lib.get("good").path, lib.user_dir / "link")
    styles = lib.list()
    assert [s.id for s in styles] == ["good"]
    assert len(lib.problems) == 2
    assert any("'bad'" in p and "bad JSON" in p for p in lib.problems)
    assert any("'empty'" in p and "missing style.json" in p for p in lib.problems)
    with pytest.raises(StyleError, match="style 'bad' is broken: .*bad JSON"):
        lib.get("bad")


def test_list_survives_an_unreadable_library(tmp_path):
    lib = Library(tmp_path / "missing", bundled_dir=tmp_path / "also-missing")
    assert lib.list() == [] and lib.problems == []


def test_crash_while_adding_leaves_library_clean(lib, monkeypatch):
    add(lib, "Kept")

    def crash(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(style_mod, "encode_png", crash)
    with pytest.raises(RuntimeError):
        lib.add(small_cppn(), meta("Lost"))
    monkeypatch.undo()
    real_write = style_mod._write_file
    calls = {"n": 0}

    def crash_on_second_file(path, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        real_write(path, data)

    monkeypatch.setattr(style_mod, "_write_file", crash_on_second_file)
    with pytest.raises(RuntimeError):
        lib.add(small_cppn(), meta("Lost"), tiny_thumb())
    monkeypatch.undo()
    assert [s.id for s in lib.list()] == ["kept"] and lib.problems == []
    assert entries(lib.user_dir) == ["kept"]  # no temp folders left


def test_crash_while_updating_meta_keeps_old_json(lib, monkeypatch):
    add(lib, "Stable")

    def crash(src, dst):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StyleError, match="I/O error"):
        lib.rename("stable", "Changed")
    monkeypatch.undo()
    assert lib.get("stable").name == "Stable"
    assert sorted(p.name for p in (lib.user_dir / "stable").iterdir()) == [
        "style.json", "thumb.png", "weights.safetensors"]


def test_stale_temp_folders_from_a_real_crash_are_removed(tmp_path):
    user = tmp_path / "user"
    lib = Library(user, bundled_dir=None)
    lib.add(small_cppn(), meta("Keep"), tiny_thumb())
    old = user / ".tmp-0123456789ab-half"
    old.mkdir()
    (old / "weights.safetensors").write_bytes(b"partial")
    fresh = user / ".tmp-fedcba987654-busy"
    fresh.mkdir()
    past = time.time() - library_mod.STALE_TEMP_SECONDS - 5
    os.utime(old, (past, past))
    lib = Library(user, bundled_dir=None)
    assert [s.id for s in lib.list()] == ["keep"]
    assert not old.exists() and fresh.exists()  # a fresh one may belong to a live writer


def test_library_sees_changes_made_behind_its_back(lib):
    st = add(lib, "Cached")
    assert lib.get("cached").name == "Cached"
    data = json.loads((st.path / "style.json").read_text())
    data["name"] = "Edited by hand"
    time.sleep(0.01)
    (st.path / "style.json").write_text(json.dumps(data) + "\n\n")
    assert lib.get("cached").name == "Edited by hand"


def test_unwritable_library_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    lib = Library(blocker / "lib", bundled_dir=None)
    with pytest.raises(StyleError, match="cannot create the style library"):
        lib.add(small_cppn(), meta(), tiny_thumb())


def test_writes_into_the_user_library_only(tmp_path):
    bundled = tmp_path / "bundled"
    write_style(bundled / "shipped", small_cppn(), {"name": "Shipped"}, tiny_thumb())
    lib = Library(tmp_path / "user", bundled_dir=bundled)
    st = lib.add(small_cppn(), {"name": "Shipped"}, tiny_thumb())
    assert st.name == "Shipped (2)" and st.id == "shipped-2"
    assert [p.name for p in bundled.iterdir()] == ["shipped"]
