"""An offline index of e621 posts by md5, built from e621's posts export (``posts-*.csv.gz``).

The posts export has ``id, md5, rating, tag_string, fav_count, file_ext, score, is_deleted, …``
but its ``tag_string`` carries no categories.  Give the tags export too (``--tags``) and the
index learns every tag's category; without it, looked-up posts keep their tags under the
category ``unknown`` and the caption rules treat them as general tags, or as whatever the
vocabulary's own categories say (the autocomplete format and the tags export have them).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Iterable, Optional

from .boorus.base import EXT_RE, MD5_RE, Post
from .errors import DatasetError
from .postcache import PostCache
from .progress import Progress
from .tags import CATEGORY_NAMES, UNCATEGORISED, open_text

INDEX_SITES = ("e621", "e926")  # sites whose posts the export describes
_BATCH = 20000
_CHUNK = 500


def _open_csv(path: Path, what: str):
    path = Path(path).expanduser()
    try:
        fh = open_text(path)
        reader = csv.reader(fh)
        head = [c.strip().lower() for c in next(reader, [])]
    except FileNotFoundError:
        raise DatasetError(f"The {what} {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the {what} {path} ({exc}); pass e621's export, plain or .gz.") from None
    return fh, reader, head


def build_index(cache: PostCache, posts_csv: Path, tags_csv: Optional[Path] = None,
                progress: Optional[Progress] = None) -> tuple[int, int]:
    """Load the posts export (and the tags export's categories) into the cache file; returns (posts, tags)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # descriptions can be long
    progress = progress or Progress()
    tags = _load_categories(cache, tags_csv, progress) if tags_csv is not None else 0
    fh, reader, head = _open_csv(posts_csv, "posts export")
    needed = ("id", "md5", "rating", "tag_string", "file_ext")
    if any(col not in head for col in needed):
        fh.close()
        raise DatasetError(f"{posts_csv} is not e621's posts export (it needs the columns {', '.join(needed)}); "
                           f"download posts-YYYY-MM-DD.csv.gz from e621's db_export.")
    col = {name: head.index(name) for name in head}

    def get(row, name, default=""):
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else default

    count = 0
    progress.start(None, "index posts")
    try:
        batch = []
        with fh:
            for row in reader:
                progress.check()
                md5 = get(row, "md5").strip().lower()
                ext = get(row, "file_ext").strip().lower()
                if not MD5_RE.fullmatch(md5) or not EXT_RE.fullmatch(ext) or not get(row, "id").strip().isdigit():
                    continue
                batch.append((md5, int(get(row, "id")), get(row, "rating").strip(), get(row, "tag_string"), ext,
                              _int(get(row, "score")), _int(get(row, "fav_count")),
                              1 if get(row, "is_deleted").strip().lower() in ("t", "true", "1") else 0))
                if len(batch) >= _BATCH:
                    count += _insert_posts(cache, batch)
                    progress.advance(len(batch))
                    batch = []
            count += _insert_posts(cache, batch)
            progress.advance(len(batch))
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise DatasetError(f"The posts export {posts_csv} could not be read to the end ({exc}); download it again "
                           f"and rerun (what was read is kept).") from None
    finally:
        progress.close()
    return count, tags


def _insert_posts(cache: PostCache, rows: list) -> int:
    if rows:
        with cache._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO export_posts (md5, id, rating, tag_string, ext, score, fav_count, "
                           "deleted) VALUES (?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def _load_categories(cache: PostCache, tags_csv: Path, progress: Progress) -> int:
    fh, reader, head = _open_csv(tags_csv, "tags export")
    with fh:
        if "name" not in head or "category" not in head:
            raise DatasetError(f"{tags_csv} is not e621's tags export (it needs name and category columns); "
                               f"download tags-YYYY-MM-DD.csv.gz from e621's db_export.")
        i_name, i_cat = head.index("name"), head.index("category")
        rows = [(r[i_name], int(r[i_cat])) for r in reader
                if len(r) > max(i_name, i_cat) and r[i_name] and r[i_cat].strip().isdigit()]
    with cache._transaction() as db:
        db.executemany("INSERT OR REPLACE INTO tag_categories (name, category) VALUES (?, ?)", rows)
    return len(rows)


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def index_size(cache: PostCache) -> int:
    return cache.db.execute("SELECT COUNT(*) FROM export_posts").fetchone()[0]


def lookup(cache: PostCache, md5s: Iterable[str]) -> dict[str, Post]:
    """Posts the offline index knows, by md5."""
    md5s = list(dict.fromkeys(md5s))
    found: dict[str, Post] = {}
    rows = []
    for start in range(0, len(md5s), _CHUNK):
        chunk = md5s[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows += cache.db.execute(
            f"SELECT md5, id, rating, tag_string, ext, score, fav_count, deleted FROM export_posts "
            f"WHERE md5 IN ({marks})", chunk).fetchall()
    if not rows:
        return found
    all_tags = sorted({t for row in rows for t in (row[3] or "").split()})
    categories = _categories(cache, all_tags)
    for md5, post_id, rating, tag_string, ext, score, fav_count, deleted in rows:
        tags: dict[str, list[str]] = {}
        for tag in (tag_string or "").split():
            number = categories.get(tag)
            tags.setdefault(CATEGORY_NAMES.get(number, UNCATEGORISED) if number is not None else UNCATEGORISED,
                            []).append(tag)
        found[md5] = Post(id=post_id, md5=md5, file_url=None, ext=ext, rating=rating or "", score=score or 0,
                          fav_count=fav_count or 0, tags=tags, deleted=bool(deleted), site="e621-export")
    return found


def _categories(cache: PostCache, tags: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(tags), _CHUNK):
        chunk = tags[start:start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        out.update(cache.db.execute(f"SELECT name, category FROM tag_categories WHERE name IN ({marks})", chunk))
    return out
