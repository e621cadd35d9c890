"""The serving speed paths keep behaviour: exact embeddings in JSON, bounded route cache, settings."""
import json
import subprocess
import sys

import numpy as np
from starlette.routing import Route

from openeyes.serving.fast_json import vector_response
from openeyes.serving.middleware import GuardMiddleware
from openeyes.serving.runtime import ServeConfig
from openeyes.serving.settings import config_from_env, config_to_env


def test_vectors_are_written_as_exact_float32_and_non_finite_as_null():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 512)).astype(np.float32) / 7  # [3, 512]
    body = json.loads(vector_response({"embeddings": vectors, "model": "m"}).body)
    assert np.array_equal(np.asarray(body["embeddings"], dtype=np.float32), vectors)  # bit-exact after a float32 cast
    assert body["model"] == "m"
    odd = np.array([[np.nan, np.inf, 1.5]], dtype=np.float32)
    assert json.loads(vector_response({"embeddings": odd}).body)["embeddings"] == [[None, None, 1.5]]


def test_route_cache_holds_only_template_paths_and_known_methods():
    async def endpoint(request):  # pragma: no cover - never called
        return None

    routes = [Route("/embed/texts", endpoint, methods=["POST"]), Route("/v1/models/{model_id}", endpoint, methods=["GET"])]
    guard = GuardMiddleware(None, api_key=None, max_body_bytes=10, routes=routes)

    def scope(method, path):
        return {"type": "http", "method": method, "path": path, "root_path": ""}

    assert guard.route_of(scope("POST", "/embed/texts")) == ("/embed/texts", True)
    assert guard.route_of(scope("GET", "/embed/texts")) == ("/embed/texts", False)  # the app answers 405
    for i in range(50):
        assert guard.route_of(scope("GET", f"/v1/models/m{i}")) == ("/v1/models/{model_id}", True)
        assert guard.route_of(scope("GET", f"/random/{i}")) == ("other", False)
        assert guard.route_of(scope(f"M{i}", "/embed/texts")) == ("/embed/texts", False)
    assert set(guard._matched) == {("POST", "/embed/texts"), ("GET", "/embed/texts")}  # bounded by the route table


def test_access_log_setting_round_trips_and_reaches_the_bentoml_service(tmp_path):
    assert ServeConfig().access_log is False and config_from_env({}).access_log is False
    env = config_to_env(ServeConfig(access_log=True))
    assert env["OPENEYES_SERVE_ACCESS_LOG"] == "1" and config_from_env(env).access_log is True
    probe = ("from openeyes.serving.service import OpenEyes; import json; "
             "print(json.dumps([OpenEyes.config['logging']['access']['enabled'], OpenEyes.config.get('tracing', {})]))")
    for flag, expected in (("0", False), ("1", True)):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                             env={"OPENEYES_SERVE_ACCESS_LOG": flag, "OPENEYES_SERVE_UI": "0", "BENTOML_DO_NOT_TRACK": "true",
                                  "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}).stdout
        enabled, tracing = json.loads(out.strip().splitlines()[-1])
        assert enabled is expected and tracing == {"excluded_urls": ".*"}  # no exporter configured: no spans
