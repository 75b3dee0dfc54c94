"""The kernels' on-disk cache is stamped with all of bench/align's sources, not only the kernel's own file."""
from bench.align import _cache
from bench.align._softdtw_numba import _forward


def test_lane_kernels_use_the_all_sources_locator():
    locator = _forward._cache._impl.locator
    assert isinstance(locator, _cache.KernelSourcesLocator)
    assert locator.get_source_stamp() == _cache.sources_digest()


def test_digest_changes_when_any_source_changes(tmp_path, monkeypatch):
    (tmp_path / "_lanes.py").write_text("A = 1\n")
    (tmp_path / "kernel.py").write_text("B = 2\n")
    monkeypatch.setattr(_cache, "KERNEL_DIR", tmp_path)
    before = _cache.sources_digest.__wrapped__()
    (tmp_path / "_lanes.py").write_text("A = 3\n")
    assert _cache.sources_digest.__wrapped__() != before
