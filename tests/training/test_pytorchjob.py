"""k8s/training: the PyTorchJob and its volume, checked offline.

The PyTorchJob is a custom resource: Kubernetes' own schemas (kubernetes-validate) do not know
it, and `kubectl apply --dry-run=client` needs a cluster that has the operator's CRD. So its pod
templates are validated as Pods, the PVC as itself, and the job's own fields and the training
command are checked here: the command parses with `foodclf train`'s own parser, and its node and
process counts agree with the replicas."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from foodclf.commands.train import parse_args

K8S = Path(__file__).resolve().parents[2] / "k8s" / "training"
REPLICAS = ("Master", "Worker")


def load(name: str) -> dict:
    (document,) = yaml.safe_load_all((K8S / name).read_text())
    return document


@pytest.fixture(scope="module")
def job() -> dict:
    return load("pytorchjob.yaml")


def pod(job: dict, replica: str) -> dict:
    return job["spec"]["pytorchReplicaSpecs"][replica]["template"]


def container(job: dict, replica: str) -> dict:
    (c,) = pod(job, replica)["spec"]["containers"]
    return c


def env(c: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"]}


def train_argv(c: dict) -> list[str]:
    """`foodclf train`'s arguments as Kubernetes hands them over: $(VAR) replaced from the env."""
    values = env(c)
    return [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], str(a)) for a in c["args"]]


def test_it_is_a_pytorchjob_with_a_master_and_workers(job):
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert sorted(specs) == sorted(REPLICAS)
    assert specs["Master"]["replicas"] == 1 and specs["Worker"]["replicas"] >= 1
    assert {specs[r]["restartPolicy"] for r in REPLICAS} == {"OnFailure"}
    assert pod(job, "Master") == pod(job, "Worker"), "master and workers must run the same pod"


@pytest.mark.parametrize("replica", REPLICAS)
def test_every_pod_template_validates_as_a_pod(job, replica):
    template = pod(job, replica)
    as_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "foodclf-train", **template["metadata"]},
              "spec": template["spec"]}
    kubernetes_validate.validate(as_pod, kubernetes_validate.latest_version(), strict=True)


def test_the_volume_claim_validates_and_is_shared_between_nodes(job):
    claim = load("pvc.yaml")
    kubernetes_validate.validate(claim, kubernetes_validate.latest_version(), strict=True)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = {v["name"]: v for v in pod(job, "Master")["spec"]["volumes"]}
    assert volumes["shared"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_the_training_command_parses_and_matches_the_replicas(job):
    c = container(job, "Master")
    assert c["name"] == "pytorch"  # the container the operator gives MASTER_ADDR, RANK, ...
    args = parse_args(train_argv(c))
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert args.num_nodes == sum(specs[r]["replicas"] for r in REPLICAS)
    assert args.devices == env(c)["FOODCLF_PROCS_PER_NODE"]
    assert (args.strategy, args.resume) == ("ddp", False)  # --resume is added only when last.ckpt exists
    # Threads per process: the pod's CPUs shared out (torch would otherwise count the node's cores).
    cpus = int(c["resources"]["limits"]["cpu"])
    assert int(env(c)["OMP_NUM_THREADS"]) * int(args.devices) == cpus
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert Path(args.data).parts[1] == "data" and mounts["/data"]["readOnly"]
    assert Path(args.out).parts[1] == "runs" and not mounts["/runs"].get("readOnly", False)
    assert mounts["/dev/shm"]["name"] == "shm"


def test_torchrun_gets_the_counts_the_trainer_gets(job):
    script = container(job, "Master")["command"][2]
    torchrun = shlex.split(script[script.index("exec torchrun"):].replace("\\\n", " "))
    options = dict(option.split("=", 1) for option in torchrun if option.startswith("--") and "=" in option)
    assert options["--nnodes"] == '$FOODCLF_NODES' and options["--nproc-per-node"] == "$FOODCLF_PROCS_PER_NODE"
    assert options["--node-rank"] == "$RANK"  # the operator's pod index: 0 for the master
    assert torchrun[-4:] == ["-m", "foodclf", "train", "$@"]
    assert 'if [ -f "$RUN_DIR/last.ckpt" ]; then set -- "$@" --resume; fi' in script
