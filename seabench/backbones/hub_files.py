"""Files of a Hugging Face hub repository: from the network when there is one, else from the cache.

The same rule as timm names (:mod:`seabench.backbones.timm_models`): ``hub_online`` decides at
once (``HF_HUB_OFFLINE=1`` or no answer from the hub), and offline the files come from the local
Hugging Face cache (``HF_CACHE_DIR``, default ``$HF_HOME/hub``) without any network attempt.
Either way a model is then built from the snapshot folder that holds the files, so the features
and their cache key are the same online and offline (the key names the repository and the
snapshot's revision).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from seabench.backbones import timm_models
from seabench.errors import SeabenchError

HUB_EXTRA = "pip install 'seabench[hub]'"


def require(module: str, form: str) -> None:
    """One line naming the extra when an optional library is missing."""
    if importlib.util.find_spec(module) is None:
        raise SeabenchError(f"--backbone {form} needs the {module} package: {HUB_EXTRA}")


@dataclass(frozen=True)
class Snapshot:
    """A hub repository's files on disk: the snapshot folder and its revision."""

    repo: str
    folder: Path
    revision: str
    files: dict[str, Path]
    #: whether the hub answered (offline, libraries must read their cache only)
    online: bool = False

    @property
    def identity(self) -> str:
        return f"{self.repo}@{self.revision}"


def split_revision(repo: str) -> tuple[str, str | None]:
    """``ORG/NAME@REV`` -> (``ORG/NAME``, ``REV``)."""
    name, _, rev = repo.partition("@")
    return name, rev or None


def fetch(repo: str, groups: list[tuple[str, ...]], form: str) -> Snapshot:
    """One file of each group of alternatives (the first that exists), in one snapshot folder.

    ``form`` is the name as the user wrote it, for the messages.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    repo_id, revision = split_revision(repo)
    cache_dir = timm_models.HF_CACHE_DIR
    online = timm_models.hub_online()
    found: dict[str, Path] = {}
    for group in groups:
        path = None
        for filename in group:
            if online:
                try:
                    path = hf_hub_download(
                        repo_id, filename, revision=revision, cache_dir=cache_dir
                    )
                except EntryNotFoundError:
                    continue
                except RepositoryNotFoundError:
                    raise SeabenchError(
                        f"{form}: the hub has no repository {repo_id!r} (or it is gated: log in "
                        "with `hf auth login`); check the name"
                    ) from None
                except Exception as exc:  # noqa: BLE001  (network errors of every kind)
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise SeabenchError(
                        f"{form}: could not download {filename} from the hub ({first}); "
                        "retry, or run offline from the cache with HF_HUB_OFFLINE=1"
                    ) from None
            else:
                cached = try_to_load_from_cache(
                    repo_id, filename, cache_dir=cache_dir, revision=revision
                )
                path = cached if isinstance(cached, str) else None
            if path is not None:
                found[filename] = Path(path)
                break
        if path is None:
            names = " or ".join(group)
            if online:
                raise SeabenchError(
                    f"{form}: the hub repository {repo_id} has no {names}; "
                    "is it a model of this kind? (see `seabench backbones`)"
                )
            raise SeabenchError(
                f"{form}: no network, and the local Hugging Face cache "
                f"({cache_dir or '$HF_HOME/hub'}) lacks {names} of {repo_id}; fill it by "
                "running the same command once with network access (or `hf download "
                f"{repo_id}`), or point HF_HOME at a cache that has it"
            )
    folders = {p.parent for p in found.values()}
    if len(folders) != 1:
        raise SeabenchError(
            f"{form}: the cached files of {repo_id} belong to different revisions; "
            f"download the repository again (`hf download {repo_id}`)"
        )
    folder = folders.pop()
    return Snapshot(repo_id, folder, folder.name, found, online)
