"""Folder discovery: recursive, by extension and by probing, and never outside the folder it was given."""

import shutil

from edge.indexer import discover


def test_discovery_probes_unknown_types_and_never_leaves_the_folder(sample_dir, tmp_path):
    library, outside = tmp_path / "library", tmp_path / "outside"
    (library / "sub").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(sample_dir / "rocket.mp4", library / "sub" / "clip.mp4")
    shutil.copy(sample_dir / "rocket.mp4", library / "no_extension")  # found by probing
    (library / "notes.txt").write_text("not a video")
    (library / ".hidden.mp4").write_bytes(b"")
    shutil.copy(sample_dir / "cat_coffee.mp4", outside / "secret.mp4")
    (library / "escape.mp4").symlink_to(outside / "secret.mp4")  # a file link out of the library
    (library / "linked_dir").symlink_to(outside, target_is_directory=True)  # a folder link out of it
    (library / "inside_link.mp4").symlink_to(library / "sub" / "clip.mp4")  # a link that stays inside is fine

    found = sorted(p.relative_to(library).as_posix() for p in discover([library]))
    assert found == ["inside_link.mp4", "no_extension", "sub/clip.mp4"]
