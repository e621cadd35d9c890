"""MLLM benchmarks scored exactly like their references: MMVP, POPE, CV-Bench, NaturalBench.

One module per benchmark (``mmvp``, ``pope``, ``cv_bench``, ``naturalbench``); each offers

- ``load(data_dir, split=None, **opts) -> list[Item]`` — reads the real layout (a folder,
  JSONL/CSV, parquet when pyarrow is installed, a ``datasets`` ``save_to_disk`` folder when
  datasets is installed), validates it and raises ``UserError`` naming file and row.
  Every item has ``id`` (the benchmark's own id: MMVP ``Index``, POPE ``question_id``,
  CV-Bench ``idx``, NaturalBench the flattened 0..4N-1 order q0i0, q0i1, q1i0, q1i1; ids that
  repeat across splits/files become ``"<split>:<id>"``) and ``images`` (list of paths).
  Options: MMVP ``swap_gold`` (the 99<->100 / 279<->280 lmms-eval answer swap); POPE
  ``split`` random|popular|adversarial|all and ``image_dir``; CV-Bench ``split`` 2D|3D|all.
- ``build_prompt(item, protocol) -> (text, image_paths, generation_kwargs)`` — the reference's
  prompt (no image token: the runner's chat template places the image) and its decoding
  settings as transformers ``generate`` kwargs (``PROTOCOLS[p].generation`` holds them as data).
- ``parse(output, item, protocol)`` — the reference's answer parser.
- ``score(items, outputs_by_id, protocol) -> dict`` — ``{"benchmark", "protocol", "headline",
  "metrics", "per_category", "counts": {..., "missing"}, "predictions"}``; items without an
  output are left out and counted as missing.
- ``PROTOCOLS`` (name -> ``protocol.Protocol``) and ``DEFAULT_PROTOCOL``.

Protocols: mmvp original (pluggable ``Grader``; offline ``ExactMatchGrader``) | lmms-eval |
cambrian; pope pope | lmms-eval | cambrian; cv_bench cambrian | lmms-eval; naturalbench
reference | lmms-eval (prompt spacing only).

``registry.benchmark(name)`` returns a module; ``registry.score_predictions(bench, data,
predictions_jsonl, protocol, split)`` is what ``openeyes eval score`` runs; predictions files
are read by ``predictions.read_predictions`` (lines ``{"id": ..., "output": "..."}``).
"""
