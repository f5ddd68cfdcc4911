"""foodclf.serve.properties: the config.properties and log4j2.xml that ship in the package."""
import xml.etree.ElementTree as ET

import pytest

from foodclf.serve.errors import ServeError
from foodclf.serve.properties import DEFAULT_CONFIG, DEFAULT_LOG_CONFIG, read_properties, write_properties


def test_config_is_loopback_only_with_safe_defaults():
    props = read_properties(DEFAULT_CONFIG)
    for key in ("inference_address", "management_address", "metrics_address"):
        assert props[key].startswith("http://127.0.0.1:"), key
    assert props["grpc_inference_address"] == props["grpc_management_address"] == "127.0.0.1"
    if props.get("disable_token_authorization") == "true":
        assert props["enable_model_api"] == "false"
    assert props["metrics_mode"] == "prometheus"
    assert int(props["default_workers_per_model"]) >= 1 and int(props["max_request_size"]) > 6_553_500


def test_config_overrides_replace_keys_and_keep_the_rest(tmp_path):
    path = write_properties(DEFAULT_CONFIG, {"inference_address": "http://127.0.0.1:1", "new_key": 5},
                            tmp_path / "config.properties")
    props = read_properties(path)
    assert props["inference_address"] == "http://127.0.0.1:1" and props["new_key"] == "5"
    assert props["max_request_size"] == read_properties(DEFAULT_CONFIG)["max_request_size"]
    assert [line for line in path.read_text().splitlines() if line.startswith("inference_address=")] == \
        ["inference_address=http://127.0.0.1:1"]


def test_a_missing_config_names_the_file(tmp_path):
    with pytest.raises(ServeError, match=f"{tmp_path / 'nope.properties'}: TorchServe config not found"):
        read_properties(tmp_path / "nope.properties")
    with pytest.raises(ServeError, match="not found"):
        write_properties(tmp_path / "nope.properties", {}, tmp_path / "out.properties")
    assert not (tmp_path / "out.properties").exists()


def test_the_log_config_keeps_the_access_log_and_lifecycle_lines():
    # A broken file would make log4j fall back to its own default, which prints only errors.
    loggers = {e.get("name"): e.get("level") for e in ET.parse(DEFAULT_LOG_CONFIG).getroot().iter("Logger")}
    assert loggers["ACCESS_LOG"] == "info" and loggers["org.pytorch.serve"] == "info"

