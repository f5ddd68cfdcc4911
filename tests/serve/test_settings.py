"""foodclf.serve.settings: the allocator setting and the threads each worker gets."""
from foodclf.machine import usable_cores
from foodclf.serve.settings import MALLOC_ENV, MALLOC_TUNABLES, serving_env, threads_per_worker


def test_serving_env_adds_the_allocator_setting_but_keeps_the_users():
    assert serving_env({"PATH": "/bin"}) == {"PATH": "/bin", MALLOC_ENV: MALLOC_TUNABLES}
    assert serving_env({MALLOC_ENV: ""})[MALLOC_ENV] == ""  # empty: glibc's defaults, as the user asked
    assert MALLOC_TUNABLES.startswith("glibc.malloc.mmap_threshold=")


def test_workers_share_the_usable_cores_and_get_at_least_one_thread():
    cores = usable_cores()
    assert threads_per_worker(1) == cores
    assert threads_per_worker(2) == max(1, cores // 2)
    assert threads_per_worker(cores + 1) == 1
    assert threads_per_worker(0) == cores  # no workers given: one process takes them all
