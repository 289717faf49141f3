"""The one factory: settings -> store, models, indexer, classifier. The CLI, the HTTP server, the watcher, the
tests and the benchmarks all build the appliance through `Edge`, so they cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from edge.bundles import TextModels, VisualBundle, load_visual_bundle
from edge.classify import Classifier
from edge.hashing import IntegrityError
from edge.runtime import ProviderError
from edge.settings import Settings, load_settings
from edge.store import Store
from edge.thumbnails import ThumbnailCache
from edge.types import VISUAL

if TYPE_CHECKING:  # indexing pulls in the decoders (PyAV, OpenCV), which answering requests never needs
    from edge.indexer import Extractor, Indexer


class ModelsUnavailable(RuntimeError):
    """A model needed now is missing, corrupt or cannot run here; the message says which and what to do."""


_MODEL_ERRORS = (IntegrityError, ProviderError, FileNotFoundError, ValueError, RuntimeError)


class Edge:
    """One appliance: its store (SQLite) and models, each opened or loaded when first needed."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.db_path)

    @cached_property
    def bundle(self) -> VisualBundle:
        try:
            return load_visual_bundle(self.settings)
        except _MODEL_ERRORS as exc:
            raise ModelsUnavailable(str(exc)) from exc

    @cached_property
    def text(self) -> TextModels:
        return TextModels(self.settings)

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier(self.store, self.bundle, self.settings.page_ttl_s, text=self.text)

    @cached_property
    def thumbnails(self) -> ThumbnailCache:
        return ThumbnailCache(self.settings.thumbnail_dir, self.settings.thumbnail_cache_bytes)

    def load(self, sources: tuple[str, ...] | None = None) -> None:
        """Load now the models these sources need (default: the configured ones): a missing model is one clear
        error at start-up, not a failure per file later."""
        sources = sources or self.settings.sources
        try:
            if VISUAL in sources:
                _ = self.bundle
            self.text.load(sources)
        except _MODEL_ERRORS as exc:
            if isinstance(exc, ModelsUnavailable):
                raise
            raise ModelsUnavailable(str(exc)) from exc

    def indexer(
        self,
        store: Store | None = None,
        sources: tuple[str, ...] | None = None,
        progress: Callable[[str], None] | None = None,
        meter=None,
    ) -> Indexer:
        """An indexer for the configured sources (or `sources`), writing to this appliance's store (or `store`:
        a thread of its own needs its own SQLite connection). `meter`: an edge.progress.IndexBar."""
        from edge.indexer import Indexer

        sources = sources or self.settings.sources
        extra = {"progress": progress} if progress else {}
        return Indexer(
            store or self.store,
            self.bundle,
            self.settings.sample_fps,
            self.text,
            sources,
            frame_nice=self.settings.frame_nice,
            meter=meter,
            decoder=self.decoder,
            **extra,
        )

    @cached_property
    def decoder(self):
        """The frame decoder EDGE_DECODER asks for (auto: NVDEC when it loads, else CPU, the reason logged)."""
        from edge.decode import choose_decoder

        return choose_decoder(self.settings.decoder, self.settings.gpu_device)

    def extractor(self, progress: Callable[[str], None] | None = None) -> Extractor:
        """The store-free half of indexing (one file -> its evidence), as a Ray worker of edge.cluster runs it."""
        from edge.indexer import Extractor

        extra = {"progress": progress} if progress else {}
        return Extractor(
            self.bundle,
            self.settings.sample_fps,
            self.text,
            frame_nice=self.settings.frame_nice,
            decoder=self.decoder,
            **extra,
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
