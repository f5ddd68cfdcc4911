"""The scaling run for real, briefly (foodclf.deploy.local.scaling.run_scaling): a real replica
under its quota behind HAProxy, the controller beside a real load."""
from __future__ import annotations

import pytest
from support import photo

from foodclf.deploy.local import scaling
from foodclf.deploy.local.cgroups import cgroup_unavailable_reason
from foodclf.deploy.local.haproxy import haproxy_unavailable_reason
from foodclf.deploy.local.replicas import ReplicaSet
from foodclf.deploy.manifests import load_deployment, overlay_dir
from foodclf.loadtest.profiles import Stage

UNAVAILABLE = haproxy_unavailable_reason() or cgroup_unavailable_reason()


@pytest.mark.serve
@pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE or "")
def test_the_controller_keeps_the_loads_time_before_any_request(model_store, tmp_path):
    """One user who waits up to 100 s before the first request: the controller still syncs on
    the profile's clock from the load's start, as the simulation's does."""
    spec = scaling.scaled_spec(load_deployment(overlay_dir("hpa")), time_scale=0.1, cpu_scale=0.25, max_replicas=1)
    settings = scaling.scaled_settings(0.1, model_load_s=5.0)
    image = tmp_path / "photo.jpg"
    photo().save(image)
    with ReplicaSet(model_store, "food", cpu_limit=spec.cpu_limit, workdir=tmp_path / "serve", slots=1) as replicas:
        replicas.scale_to(1)
        ticks, measured = scaling.run_scaling(replicas, spec, settings, [Stage(6.0, 1, 100.0)], image,
                                              tmp_path / "out")
    period = settings.sync_period_s
    assert [round(t.t_s / period) for t in ticks][:3] == [1, 2, 3]
    assert all(abs(t.t_s - period * round(t.t_s / period)) < 0.3 for t in ticks)
    assert len(ticks) >= int(measured.overall.duration_s / period) - 1
    assert not (tmp_path / "out" / "scaling_loadtest.t0").exists()  # the clock file is cleaned up
