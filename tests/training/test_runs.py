"""foodclf.training.runs: a random-weights run is a complete run directory that every stage loads."""
import torch

from foodclf.training.runs import REQUIRED_FILES, load_run, random_weights_run


def test_a_random_weights_run_loads_and_answers_for_its_classes(tmp_path):
    run_dir = random_weights_run(tmp_path / "run", "baseline", 24, classes=["a", "b", "c"], note="for a test")
    assert all((run_dir / name).is_file() for name in REQUIRED_FILES)
    run = load_run(run_dir)
    assert run.classes == ["a", "b", "c"] and run.data_config.image_size == 24
    with torch.inference_mode():
        assert run.load_model()(torch.zeros(2, 3, 24, 24)).shape == (2, 3)
